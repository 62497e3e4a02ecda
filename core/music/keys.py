"""Key normalization: melodies moved so that their best-fitting major scale is C, and back.

A key-normalized model (`VAEConfig.key_normalized`) learns every training track in the key
family of C major (its relative minor A and the other modes of that scale): each track is
transposed by `normalizing_shift` before it is encoded. Generation then chooses the output
key (`transpose_to_key`), and an upload is moved into C with its own shift, worked on there
and moved back by the opposite shift.

The best-fitting scale counts notes (`core.music.musicality.notes_in_each_scale`). Of equally good
scales (a melody that never plays the note telling two of them apart: 12% of the corpus's tracks)
the normalization takes the first tonic from C, as the committed models' training data was
normalized (`best_tonic`); a melody's key as its MIDI file, its notation and `transpose_to_key` name
it (`melody_tonic`) breaks the tie the same way in every key, so that a melody moved to a key is
written in that key. Shifts lie in -6..+5, the nearest way to C, so registers move by at most a tritone.
"""

from __future__ import annotations

import numpy as np

from core.music.constants import FIRST_NOTE_TOKEN, MAX_PITCH, MIN_PITCH
from core.music.melody import token_to_pitch, validate_melody
from core.music.musicality import notes_in_each_scale

KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")  # index = tonic pitch class
_ALIASES = {"C#": 1, "D#": 3, "Gb": 6, "G#": 8, "A#": 10, "Cb": 11}
TIE_DEGREES = (0, 7, 4, 5, 2, 9, 11)  # semitones above a tonic: how equally good scales are told apart


def nearest_shift(semitones: int) -> int:
    """The transposition in -6..+5 with the same pitch class change as `semitones`."""
    return (int(semitones) + 6) % 12 - 6


def best_tonic(pitches: np.ndarray) -> int:
    """(N,) MIDI pitches -> pitch class 0..11 of the major scale holding most of them (0 for none)."""
    pitches = np.asarray(pitches, dtype=np.int64)
    return int(notes_in_each_scale(pitches).argmax()) if pitches.size else 0


def melody_pitches(melody: np.ndarray) -> np.ndarray:
    """(T,) tokens -> (N,) MIDI pitches of its onsets, in order."""
    melody = validate_melody(melody)
    return token_to_pitch(melody[melody >= FIRST_NOTE_TOKEN].astype(np.int64))


def melody_tonic(melody: np.ndarray) -> int:
    """(T,) tokens -> the tonic pitch class (0..11) of the melody's best-fitting major scale: its key
    (a minor tune: its relative major's), as its MIDI key signature and its notation carry it. Of
    equally good scales, the one whose tonic the melody plays most, then its dominant, mediant,
    subdominant, ... (TIE_DEGREES): the same choice in every key."""
    pitches = melody_pitches(melody)
    if not pitches.size:
        return 0
    held = notes_in_each_scale(pitches)  # (12,)
    heard = np.bincount(pitches % 12, minlength=12)  # (12,) notes of each pitch class
    return max(np.flatnonzero(held == held.max()).tolist(),
               key=lambda tonic: tuple(heard[(tonic + degree) % 12] for degree in TIE_DEGREES))


def normalizing_shift(melody: np.ndarray) -> int:
    """Semitones (-6..+5) that move the melody's best-fitting major scale onto C (of equally good
    ones, the first tonic from C: `best_tonic`, as the training data was normalized)."""
    return nearest_shift(-best_tonic(melody_pitches(melody)))


def transpose_melody(melody: np.ndarray, semitones: int) -> np.ndarray:
    """(T,) tokens with every note moved by `semitones`; a note that would leave MIDI 21..108
    moves by an octave less (or more), so the result is always a valid melody."""
    melody = validate_melody(melody)
    onsets = melody >= FIRST_NOTE_TOKEN
    pitches = token_to_pitch(melody[onsets].astype(np.int64)) + int(semitones)
    pitches = np.where(pitches > MAX_PITCH, pitches - 12 * -(-(pitches - MAX_PITCH) // 12), pitches)
    pitches = np.where(pitches < MIN_PITCH, pitches + 12 * -(-(MIN_PITCH - pitches) // 12), pitches)
    moved = melody.copy()
    moved[onsets] = pitches - MIN_PITCH + FIRST_NOTE_TOKEN
    return moved


def parse_key(text: str) -> int:
    """A key name ("D", "Eb", "F#", "c#", "D major") -> tonic pitch class 0..11; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"key must be a key name such as 'D' or 'Eb', got {text!r}")
    name = text.strip().removesuffix("major").removesuffix("Major").strip()
    name = name[:1].upper() + name[1:].lower().replace("♭", "b").replace("♯", "#")
    if name in KEY_NAMES:
        return KEY_NAMES.index(name)
    if name in _ALIASES:
        return _ALIASES[name]
    raise ValueError(f"key must be one of {', '.join(KEY_NAMES)} (major keys; minor tunes use their relative "
                     f"major, e.g. 'C' for A minor), got {text!r}")


STYLE_KEYS = {"folk": "D", "renaissance": "F", "chorale": "G", "classical": "C"}  # a key typical of each style
FALLBACK_KEY = "C"  # for styles without one above (and "any")


def style_key(style: str) -> str:
    """The key a key-normalized model's melodies of `style` come out in unless a key is asked for."""
    return STYLE_KEYS.get(style, FALLBACK_KEY)


def transpose_to_key(melody: np.ndarray, tonic: int) -> np.ndarray:
    """(T,) melody moved (by -6..+5 semitones) so that its best-fitting major scale is the one on `tonic`."""
    return transpose_melody(melody, nearest_shift(tonic - melody_tonic(melody)))
