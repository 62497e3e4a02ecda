"""Tiny decoded melodies for tests of the phrase-shaping steps: 2-bar chunks built from pitch lists."""

import numpy as np

from core.music.constants import NO_EVENT, STEPS_PER_CHUNK
from core.music.melody import melody_from_notes, notes_from_melody


def phrases(*pitch_lines: list[int]) -> np.ndarray:
    """(K, 32) chunks, the k-th playing pitch_lines[k] as equal notes (an empty list: a silent chunk)."""
    chunks = np.full((len(pitch_lines), STEPS_PER_CHUNK), NO_EVENT, dtype=np.int8)
    for chunk, pitches in zip(chunks, pitch_lines):
        if pitches:
            length = STEPS_PER_CHUNK // len(pitches)
            starts = np.arange(len(pitches)) * length
            chunk[:] = melody_from_notes(starts, starts + length, np.array(pitches))
    return chunks


def pitch_lines(chunks: np.ndarray) -> list[list[int]]:
    """(K, 32) chunks -> the pitches each one starts, in order."""
    return [notes_from_melody(chunk)[2].tolist() for chunk in chunks]
