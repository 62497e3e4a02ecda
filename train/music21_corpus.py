"""Melodies from the public-domain corpus bundled inside the music21 package.

Each ABC file of the folk collections holds many tunes; every tune becomes its own work
item, so both cores stay busy and the train/eval split is by tune. Other files (Humdrum,
MusicXML) are one piece each. Parsing runs in worker processes (`read_item`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.music.constants import DUPLE_METERS, STEPS_PER_QUARTER
from core.music.melody import has_notes, melody_from_notes
from train.sources import SkippedItem, Track
from train.time_limit import time_limit

# Collections left out: Roman-numeral analyses, demo and exercise files.
EXCLUDED_DIRECTORIES = frozenset({"demos", "theoryExercises"})
EXCLUDED_SUFFIXES = frozenset({".rntxt"})
# Chorales: only the soprano carries the tune; the lower voices are harmony.
FIRST_PART_ONLY_DIRECTORIES = frozenset({"bach"})
MAX_REPEAT_GROWTH = 3.0
PARSE_TIME_LIMIT_S = 60.0
ABC_TUNE_START = re.compile(r"^X:", re.MULTILINE)


@dataclass(frozen=True)
class Music21Item:
    """One piece of the music21 corpus: a file, or one tune of a multi-tune ABC file."""

    key: str  # stable id, e.g. "essenFolksong/altdeu10.abc#12"
    path: str
    abc_tune: str | None = None  # the tune's ABC text (with the file header), for ABC files


def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def _split_abc_tunes(text: str) -> list[str]:
    """Split a multi-tune ABC file into tune texts, each prefixed with the file header."""
    starts = [match.start() for match in ABC_TUNE_START.finditer(text)]
    if not starts:
        return []
    header = text[: starts[0]]
    bounds = starts + [len(text)]
    return [header + text[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def list_items() -> list[Music21Item]:
    """All pieces of the bundled corpus that the data pipeline reads, in a stable order."""
    from music21 import corpus

    root = corpus_root()
    items = []
    for path in sorted(Path(p) for p in corpus.getCorePaths()):
        relative = path.relative_to(root)
        if relative.parts[0] in EXCLUDED_DIRECTORIES or path.suffix in EXCLUDED_SUFFIXES:
            continue
        if path.suffix == ".abc":
            text = path.read_text(encoding="latin-1")
            for index, tune in enumerate(_split_abc_tunes(text)):
                items.append(Music21Item(f"{relative.as_posix()}#{index}", str(path), tune))
        else:
            items.append(Music21Item(relative.as_posix(), str(path)))
    return items


def _meters(score) -> set[tuple[int, int]]:
    from music21 import meter

    return {
        (signature.numerator, signature.denominator)
        for signature in score.recurse().getElementsByClass(meter.TimeSignature)
    }


def _part_notes(part, pickup_quarters: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Notes of one part as (starts, ends, pitches) in sixteenth steps; chords give their top."""
    starts, ends, pitches = [], [], []
    for element in part.stripTies().flatten().notes:
        if element.duration.isGrace:
            continue
        onset = float(element.offset) + pickup_quarters
        starts.append(round(onset * STEPS_PER_QUARTER))
        ends.append(round((onset + float(element.quarterLength)) * STEPS_PER_QUARTER))
        pitches.append(max(p.midi for p in element.pitches))
    return np.array(starts, np.int64), np.array(ends, np.int64), np.array(pitches, np.int64)


def _pickup_quarters(score) -> float:
    """Length of the silence before an anacrusis, so that full bars start on bar lines."""
    from music21 import stream

    first_part = score.parts[0] if score.parts else score
    measures = first_part.getElementsByClass(stream.Measure)
    return float(measures[0].paddingLeft) if measures else 0.0


def _expand_repeats(score):
    """Play repeats out; keep the tune as written if music21 cannot, or if expansion grows
    it more than `MAX_REPEAT_GROWTH` times (variation sets with '::' marks explode)."""
    try:
        expanded = score.expandRepeats()
    except Exception:  # music21 raises assorted errors on unusual repeat marks
        return score
    if expanded.highestTime > MAX_REPEAT_GROWTH * max(score.highestTime, 1.0):
        return score
    return expanded


def read_item(item: Music21Item) -> list[Track]:
    """Parse one corpus piece into melody tracks; raise `SkippedItem` with a reason."""
    from music21 import converter, stream

    try:
        with time_limit(PARSE_TIME_LIMIT_S):
            if item.abc_tune is not None:
                score = converter.parse(item.abc_tune, format="abc")
            else:
                score = converter.parse(item.path, forceSource=True)
    except Exception as error:  # music21 raises many unrelated types on bad input
        raise SkippedItem("unparseable", f"{type(error).__name__}: {error}") from error
    if isinstance(score, stream.Opus):
        score = score.scores[0] if score.scores else None
    if score is None or not score.parts:
        raise SkippedItem("no notes", "no parts")

    meters = _meters(score)
    if not meters:
        raise SkippedItem("no meter", "no time signature")
    odd = sorted(meters - DUPLE_METERS)
    if odd:
        raise SkippedItem("non-duple meter", ", ".join(f"{n}/{d}" for n, d in odd))
    score = _expand_repeats(score)

    pickup = _pickup_quarters(score)
    parts = list(score.parts)
    if Path(item.path).relative_to(corpus_root()).parts[0] in FIRST_PART_ONLY_DIRECTORIES:
        parts = parts[:1]
    tracks = []
    for index, part in enumerate(parts):
        melody = melody_from_notes(*_part_notes(part, pickup))
        if has_notes(melody):
            tracks.append(Track(name=part.partName or f"part {index}", melody=melody))
    if not tracks:
        raise SkippedItem("no notes", "no notes in MIDI range 21..108")
    return tracks
