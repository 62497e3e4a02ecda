"""What every corpus reader yields, and the reader for a directory tree of MIDI files.

A reader turns one work item (a file, or one tune of a multi-tune file) into melody tracks,
or raises `SkippedItem` with a short reason that the data summary counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.music.midi_io import MidiInputError, UnsupportedMeterError, extract_melodies, load_midi_file
from train.time_limit import TimeLimitExceeded, time_limit

MIDI_SUFFIXES = (".mid", ".midi")
PARSE_TIME_LIMIT_S = 10.0  # per file, in the corpus builder's worker processes (their main thread)


@dataclass(frozen=True)
class Track:
    """One melody line of a piece: an instrument of a MIDI file or a voice of a score."""

    name: str
    melody: np.ndarray  # (T,) int8 tokens, T a multiple of 32


class SkippedItem(Exception):
    """A work item yields no melody; `reason` is the summary's category, `detail` the case."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class MidiItem:
    """One MIDI file below the input directory."""

    key: str  # path relative to the input directory, POSIX style
    path: str


def list_midi_items(root: str | Path) -> list[MidiItem]:
    """Every .mid / .midi file below `root` (any letter case), in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"--input must be a directory of MIDI files, got {str(root)!r}")
    paths = sorted(
        path for path in root.rglob("*") if path.suffix.lower() in MIDI_SUFFIXES and path.is_file()
    )
    return [MidiItem(path.relative_to(root).as_posix(), str(path)) for path in paths]


def read_midi_item(item: MidiItem) -> list[Track]:
    """Extract one melody track per non-drum instrument of a MIDI file."""
    try:
        with time_limit(PARSE_TIME_LIMIT_S):
            midi = load_midi_file(item.path)
            melodies = extract_melodies(midi)
    except TimeLimitExceeded:
        raise SkippedItem("unreadable MIDI", f"parsing took longer than {PARSE_TIME_LIMIT_S:g} s") from None
    except UnsupportedMeterError as error:
        raise SkippedItem("non-duple meter", str(error)) from error
    except MidiInputError as error:
        raise SkippedItem("unreadable MIDI", str(error)) from error
    if not melodies:
        has_pitched = any(not inst.is_drum and inst.notes for inst in midi.instruments)
        if not has_pitched and any(inst.is_drum for inst in midi.instruments):
            raise SkippedItem("drums only")
        raise SkippedItem("no notes", "no pitched notes in MIDI range 21..108")
    return [
        Track(name=melody.name or f"program {melody.program}", melody=melody.melody)
        for melody in melodies
    ]
