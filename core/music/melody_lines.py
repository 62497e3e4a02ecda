"""Which line of an uploaded MIDI file is its tune: the lines ranked, the likeliest melody first.

A General MIDI band file often puts the bass on its first track, and a song's first track may
be its chords, so "line 1" in file order is often not what a user means by the melody.
`rank_lines` orders the lines `extract_melodies` takes from a file by `tune_score`, a sum of
what tells a tune from its accompaniment (each term below; equal scores keep file order):

- the track's name: a melody word (melody, lead, voice, flute, violin, ...) or an
  accompaniment word (bass, drums, chords, pad, accompaniment, ...);
- its General MIDI family: basses lowest, pads and effects low, solo strings, brass, reeds,
  pipes and synth leads (the instruments tunes are played on) up;
- its register: a line whose median note lies below C3 (MIDI 48) is a bass line, below G3 low;
- how much of the file it plays in (bars with notes against the file's bars);
- how often its notes start together (chords: an accompaniment reduced to its top note);
- whether it is the file's highest line (by median pitch): in a string quartet or a choir the
  top voice carries the tune even where a middle voice plays in a few more bars.
"""

from __future__ import annotations

import re

import numpy as np

from core.music.constants import FIRST_NOTE_TOKEN, STEPS_PER_BAR
from core.music.keys import melody_pitches
from core.music.midi_io import ExtractedMelody

MELODY_WORDS = ("melody", "melodie", "lead", "voice", "vocal", "vox", "sing", "soprano", "tune", "solo", "theme",
                "flute", "fiddle", "violin", "whistle", "recorder", "oboe", "clarinet", "trumpet", "sax")
ACCOMPANIMENT_WORDS = ("bass", "drum", "perc", "chord", "pad", "accomp", "rhythm", "harmony", "backing", "comp")
BASS_PROGRAMS = range(32, 40)
BACKGROUND_PROGRAMS = (*range(88, 104), *range(112, 128))  # pads, effects, percussive, sound effects
MELODIC_PROGRAMS = (*range(40, 46), *range(56, 88))  # solo strings, brass, reeds, pipes, synth leads
BASS_REGISTER = 48  # a line whose median note lies below C3 is a bass line
LOW_REGISTER = 55  # below G3: low for a tune
TUNE_REGISTER = range(60, 85)  # C4..C6: where tunes are written
TOP_LINE_BONUS = 1.0  # for the file's highest line (median pitch)


def _has_word(name: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![a-z]){word}", name.lower()) for word in words)


def _median_pitch(line: ExtractedMelody) -> float:
    pitches = melody_pitches(line.melody)
    return float(np.median(pitches)) if pitches.size else 0.0


def bars_with_notes(line: ExtractedMelody) -> int:
    """How many bars of the line start a note."""
    return np.unique(np.flatnonzero(line.melody >= FIRST_NOTE_TOKEN) // STEPS_PER_BAR).size


def tune_score(line: ExtractedMelody, file_bars: int) -> float:
    """How much `line`, on its own, looks like the file's tune (higher is likelier; every term of
    the module docstring but the comparison with the file's other lines)."""
    score = 0.0
    if _has_word(line.name, MELODY_WORDS):
        score += 3.0
    elif _has_word(line.name, ACCOMPANIMENT_WORDS):
        score -= 3.0
    if line.program in BASS_PROGRAMS:
        score -= 4.0
    elif line.program in BACKGROUND_PROGRAMS:
        score -= 2.0
    elif line.program in MELODIC_PROGRAMS:
        score += 1.0
    middle = _median_pitch(line)
    if middle < BASS_REGISTER:
        score -= 3.0
    elif middle < LOW_REGISTER:
        score -= 1.5
    elif round(middle) in TUNE_REGISTER:
        score += 1.0
    score += 2.0 * bars_with_notes(line) / max(file_bars, 1)
    return score - 3.0 * line.chord_share


def tune_scores(lines: list[ExtractedMelody]) -> list[float]:
    """How much each line of one file looks like its tune: `tune_score`, and TOP_LINE_BONUS for
    the highest line (each of equally high ones)."""
    file_bars = max((line.melody.size // STEPS_PER_BAR for line in lines), default=0)
    medians = [_median_pitch(line) for line in lines]
    return [tune_score(line, file_bars) + TOP_LINE_BONUS * (median == max(medians))
            for line, median in zip(lines, medians)]


def rank_lines(lines: list[ExtractedMelody]) -> list[ExtractedMelody]:
    """The lines of one file, the likeliest tune first (`tune_scores`; ties keep file order)."""
    scores = tune_scores(lines)
    return [lines[index] for index in sorted(range(len(lines)), key=lambda index: -scores[index])]
