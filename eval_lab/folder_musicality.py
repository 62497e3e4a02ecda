"""Musicality of the melodies in a folder of MIDI files (metrics: `core.music.musicality`).

    python -m eval_lab.folder_musicality --midi DIR [--per-file]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from core.music.midi_io import extract_melodies, load_midi_file
from core.music.musicality import METRIC_NAMES, musicality

MIDI_SUFFIXES = (".mid", ".midi")


def midi_files(directory: Path) -> list[Path]:
    """Every .mid / .midi file under `directory`, recursively, sorted (suffix case ignored)."""
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def add_midi_folder_argument(parser: argparse.ArgumentParser) -> None:
    """The --midi DIR argument of the CLIs that read a folder of MIDI files."""
    parser.add_argument("--midi", type=Path, required=True, help="directory searched recursively for .mid / .midi files")


def midi_files_given(parser: argparse.ArgumentParser, directory: Path) -> list[Path]:
    """`midi_files` of the --midi folder, or the parser's error when it is missing or holds none."""
    if not directory.is_dir():
        parser.error(f"--midi: no directory at {directory}")
    paths = midi_files(directory)
    if not paths:
        parser.error(f"--midi: no .mid or .midi file under {directory}")
    return paths


def read_midi_melodies(paths: Sequence[Path]) -> tuple[dict[Path, list[np.ndarray]], dict[Path, str]]:
    """Melody lines of each readable file, and why each unreadable file was skipped.

    Returns ({path: [(T,) melodies, one per instrument with notes]}, {path: reason}).
    """
    read: dict[Path, list[np.ndarray]] = {}
    skipped: dict[Path, str] = {}
    for path in paths:
        try:
            read[path] = [line.melody for line in extract_melodies(load_midi_file(path))]
        except (ValueError, OSError) as error:  # MidiInputError is a ValueError
            skipped[path] = str(error) or type(error).__name__
    return read, skipped


def _format(scores: dict[str, float]) -> str:
    return " ".join(f"{name}={scores[name]:.4f}" for name in METRIC_NAMES)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.folder_musicality", description=__doc__.split("\n\n")[0])
    add_midi_folder_argument(parser)
    parser.add_argument("--per-file", action="store_true",
                        help="after the totals, print one row per file (path relative to --midi)")
    args = parser.parse_args(argv)
    paths = midi_files_given(parser, args.midi)

    read, skipped = read_midi_melodies(paths)
    melodies = [melody for lines in read.values() for melody in lines]
    print(f"files={len(read)} melodies={len(melodies)} skipped={len(skipped)}")
    for path, reason in skipped.items():
        print(f"skipped {path.relative_to(args.midi)}: {reason}", file=sys.stderr)
    totals = musicality(melodies) if melodies else dict.fromkeys(METRIC_NAMES, float("nan"))
    for name in METRIC_NAMES:
        print(f"{name}={totals[name]:.4f}")
    if args.per_file:
        for path in paths:
            where = path.relative_to(args.midi)
            if path in skipped:
                print(f"{where} skipped")
            elif not read[path]:
                print(f"{where} melodies=0")
            else:
                print(f"{where} melodies={len(read[path])} {_format(musicality(read[path]))}")
    if not melodies:
        parser.exit(1, f"error: no melody could be read from the MIDI files under {args.midi}\n")


if __name__ == "__main__":
    main()
