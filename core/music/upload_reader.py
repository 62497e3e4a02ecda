"""Read an untrusted MIDI upload in a child process with a time budget, from any thread.

    python -m core.music.upload_reader LIMITS_JSON < file.mid > result.pickle   # the child's side

`read_melody_lines` checks the file's size, then runs `rank_lines(extract_melodies(load_midi_bytes(...)))`
(`core.music.midi_io`, with its event, length and track caps) in a fresh interpreter that is
killed when it has not answered within the budget, so a crafted file costs at most that much
time in a request thread, where signals cannot interrupt Python code. Starting the child
costs about 0.2 s (it imports numpy, mido and pretty_midi, not torch).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

from core.music.melody_lines import rank_lines
from core.music.midi_io import (
    UPLOAD_LIMITS,
    ExtractedMelody,
    MidiInputError,
    MidiLimits,
    extract_melodies,
    load_midi_bytes,
    read_midi_file_bytes,
)

# the child needs no more of the parent's environment (which may be large: E2BIG)
CHILD_ENVIRONMENT = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "PYTHONPATH") if name in os.environ}


def read_melody_lines(path: str | Path, limits: MidiLimits = UPLOAD_LIMITS) -> list[ExtractedMelody]:
    """The melody lines of an untrusted MIDI file, the likeliest tune first (`core.music.melody_lines`),
    or `MidiInputError` (or `UnsupportedMeterError`) saying why not, within `limits.timeout_s` (the
    child's start-up included)."""
    data = read_midi_file_bytes(path, limits)
    command = [sys.executable, "-m", __name__, json.dumps(dataclasses.asdict(limits))]
    try:
        child = subprocess.run(command, input=data, capture_output=True, timeout=limits.timeout_s,
                               cwd=Path(__file__).resolve().parents[2], env=CHILD_ENVIRONMENT)
    except subprocess.TimeoutExpired:
        raise MidiInputError(f"reading the MIDI file took longer than {limits.timeout_s:g} s; it is too complex "
                             "(hundreds of thousands of events) or corrupt") from None
    if child.returncode != 0 or not child.stdout:
        raise MidiInputError("the MIDI reader stopped without an answer; the file is probably corrupt")
    kind, value = pickle.loads(child.stdout)  # written by our own child below, never by the user
    if kind == "error":
        raise value
    return value


def main() -> None:
    """The child: MIDI bytes on stdin -> pickled ("lines", [ExtractedMelody]) or ("error", MidiInputError)."""
    limits = MidiLimits(**json.loads(sys.argv[1]))
    try:
        result = ("lines", rank_lines(extract_melodies(load_midi_bytes(sys.stdin.buffer.read(), limits))))
    except MidiInputError as error:
        result = ("error", error)
    sys.stdout.buffer.write(pickle.dumps(result))


if __name__ == "__main__":
    main()
