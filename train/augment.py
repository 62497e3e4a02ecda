"""Transposition augmentation for 2-bar chunks, drawn per chunk at training time."""

from __future__ import annotations

import numpy as np

from core.music.constants import FIRST_NOTE_TOKEN, NUM_TOKENS


def random_transpose(chunks: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Shift each chunk's notes by a uniform random number of semitones in -max..+max.

    chunks: (B, T) int tokens. A chunk's draw is limited to the shifts that keep its notes
    in MIDI 21..108, so the result needs no clipping. Returns a new (B, T) array.
    """
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    chunks = np.asarray(chunks)
    is_note = chunks >= FIRST_NOTE_TOKEN
    lowest = np.where(is_note, chunks, NUM_TOKENS).min(axis=1)  # (B,)
    highest = np.where(is_note, chunks, -1).max(axis=1)
    down = np.where(is_note.any(axis=1), np.minimum(max_shift, lowest - FIRST_NOTE_TOKEN), max_shift)
    up = np.where(is_note.any(axis=1), np.minimum(max_shift, NUM_TOKENS - 1 - highest), max_shift)
    shifts = rng.integers(-down, up + 1)  # (B,)
    return np.where(is_note, chunks + shifts[:, None], chunks).astype(chunks.dtype)
