"""Which line the app would take as the tune of each MIDI file in a folder, and why.

    python -m eval_lab.line_choice --midi DIR

For every file: its melody lines in the order the Infill tab lists them (`core.music.melody_lines`,
the default first), each with its track, instrument, mean pitch, range, share of bars it plays
in, share of its notes that start in chords, octave leaps in its top line and its score. A
default line whose mean pitch lies below MIDI 48 while another line lies higher is flagged, and
the last line counts the files where that happens. Judging whether the default is the melody a
listener would name stays with the listener: this prints what is needed to judge it.
"""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np
import pretty_midi

from core.music.constants import STEPS_PER_BAR
from core.music.keys import melody_pitches
from core.music.melody_lines import BASS_REGISTER, bars_with_notes, rank_lines, tune_scores
from core.music.midi_io import ExtractedMelody, extract_melodies, load_midi_file
from eval_lab.folder_musicality import add_midi_folder_argument, midi_files_given

OCTAVE = 12


def line_row(line: ExtractedMelody, file_bars: int, score: float) -> dict[str, float | int | str]:
    """What the listing shows of one line (see the module docstring)."""
    pitches = melody_pitches(line.melody)
    intervals = np.abs(np.diff(pitches))
    return {"track": line.instrument_index, "name": line.name or "(none)",
            "instrument": pretty_midi.program_to_instrument_name(line.program),
            "mean_pitch": float(pitches.mean()), "low": int(pitches.min()), "high": int(pitches.max()),
            "bars_share": bars_with_notes(line) / max(file_bars, 1), "chord_share": line.chord_share,
            "octave_leaps": float((intervals > OCTAVE).mean()) if intervals.size else 0.0,
            "score": score}


def low_default(rows: list[dict]) -> bool:
    """Whether the default (first) line's mean pitch lies below MIDI 48 while another line's does not."""
    return rows[0]["mean_pitch"] < BASS_REGISTER and any(row["mean_pitch"] >= BASS_REGISTER for row in rows[1:])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.line_choice", description=__doc__.split("\n\n")[0])
    add_midi_folder_argument(parser)
    args = parser.parse_args(argv)
    paths = midi_files_given(parser, args.midi)
    flagged = 0
    for path in paths:
        print(f"\n{path.relative_to(args.midi)}")
        try:
            lines = rank_lines(extract_melodies(load_midi_file(path)))
        except (ValueError, OSError) as error:  # MidiInputError is a ValueError
            print(f"  not read: {error}")
            continue
        if not lines:
            print("  no pitched notes")
            continue
        file_bars = max(line.melody.size // STEPS_PER_BAR for line in lines)
        rows = [line_row(line, file_bars, score) for line, score in zip(lines, tune_scores(lines))]
        flagged += low_default(rows)
        for number, row in enumerate(rows, start=1):
            mark = "default" if number == 1 else ""
            print(f"  {number:2d} {mark:7s} track {row['track']:2d} {row['name'][:22]:22s} "
                  f"{row['instrument'][:24]:24s} mean {row['mean_pitch']:5.1f} range {row['low']}-{row['high']} "
                  f"bars {row['bars_share']:.2f} chords {row['chord_share']:.2f} "
                  f"octave leaps {row['octave_leaps']:.3f} score {row['score']:+.2f}")
        if low_default(rows):
            print("  ! the default line lies below MIDI 48 while a higher line exists")
    print(f"\nfiles={len(paths)} default below MIDI 48 with a higher line present: {flagged}")


if __name__ == "__main__":
    main()
