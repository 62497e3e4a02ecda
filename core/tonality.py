"""Key keeping: the notes of a phrase that wanders into another key moved onto the melody's key.

Each 2-bar phrase the VAE decodes is in a key of its own, and the diffusion model does not
hold the key across phrases: in 64-bar renaissance lines drawn at guidance 2, 0.977 of the
notes of a phrase lie in that phrase's best-fitting major scale, but only 0.873 in the whole
line's (real voice parts: 0.994 and 0.965). The line drifts from key to key. `keep_in_key`
finds the major scale (or its relative minor or mode) holding most of the melody's notes and,
in each phrase that fits another scale strictly better, moves every note outside it by one
semitone onto the scale (towards the previous note, down on a tie). Phrases that fit the
melody's key keep their chromatic notes, as real melodies do.

Folk and renaissance keep their key (`python -m eval_lab.sweep --style renaissance --bars 64
--guidance 2 --n 100 --phrasing --infill`: notes in the best scale 0.852 -> 0.985 against
0.965 real, infilled 0.891 -> 0.970; folk, 32 bars: 0.965 -> 0.991 against 0.988, infilled
0.960 -> 0.986). Other styles modulate on purpose (a classical
piece moves to its dominant) and are not measured, so they are left as drawn.
"""

from __future__ import annotations

import numpy as np

from core.constants import FIRST_NOTE_TOKEN, MAX_PITCH, MIN_PITCH
from core.keys import best_tonic
from core.melody import movable_chunks, pitch_to_token, token_to_pitch
from core.musicality import MAJOR_SCALES, notes_in_each_scale

KEY_KEEPING_STYLES = ("folk", "renaissance")


def keeps_key(style: str, guidance: float) -> bool:
    """Whether melodies sampled for `style` (a label or "any") at `guidance` keep their key:
    KEY_KEEPING_STYLES only, and never at guidance 0, which ignores the style."""
    return guidance > 0 and style in KEY_KEEPING_STYLES


def keep_in_key(chunks: np.ndarray, movable: np.ndarray | None = None) -> np.ndarray:
    """(K, 32) chunks -> (K, 32) with the notes of each movable chunk that fits another major
    scale strictly better than the melody's best one moved a semitone onto the melody's scale.
    movable: (K,) bool (default all; infilling moves only the regenerated chunks, and the kept
    ones count towards the melody's key)."""
    movable = movable_chunks(chunks, movable)
    onsets = chunks >= FIRST_NOTE_TOKEN  # (K, 32)
    if not onsets.any():
        return chunks
    tonic = best_tonic(token_to_pitch(chunks[onsets].astype(np.int64)))
    key = MAJOR_SCALES[tonic]  # (12,) bool
    kept = chunks.copy()
    previous = None  # the pitch of the note before, once there is one
    for index, chunk in enumerate(kept):
        pitches = token_to_pitch(chunk[onsets[index]].astype(np.int64))  # (N,)
        fits = notes_in_each_scale(pitches)  # (12,)
        foreign = bool(movable[index]) and pitches.size > 0 and fits.max() > fits[tonic]
        for step in np.flatnonzero(onsets[index]):
            pitch = int(token_to_pitch(int(chunk[step])))
            if foreign and not key[pitch % 12]:
                reference = pitch if previous is None else previous
                neighbours = [candidate for candidate in (pitch - 1, pitch + 1) if MIN_PITCH <= candidate <= MAX_PITCH]
                pitch = min(neighbours, key=lambda candidate: (abs(candidate - reference), candidate))
                chunk[step] = pitch_to_token(pitch)
            previous = pitch
    return kept
