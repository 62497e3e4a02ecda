"""Key keeping: the notes of a phrase that wanders into another key moved onto the melody's key.

Each 2-bar phrase the VAE decodes is in a key of its own, and the diffusion model does not
hold the key across phrases as firmly as real melodies do: the line drifts from key to key.
`keep_in_key` finds the major scale (or its relative minor or mode) holding most of the melody's notes and,
in each phrase that fits another scale strictly better, moves every note outside it by one
semitone onto the scale (towards the previous note, down on a tie). Phrases that fit the
melody's key keep their chromatic notes, as real melodies do.

Infilled bars are moved onto the key; the kept ones count towards it but never change.
"""

from __future__ import annotations

import numpy as np

from core.music.constants import FIRST_NOTE_TOKEN, MAX_PITCH, MIN_PITCH
from core.music.keys import best_tonic
from core.music.melody import movable_chunks, pitch_to_token, token_to_pitch
from core.music.musicality import MAJOR_SCALES, notes_in_each_scale


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
