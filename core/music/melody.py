"""Monophonic melody events: Magenta's OneHotMelodyConverter representation.

A melody is a 1-D int8 array of tokens, one per sixteenth step (see `core.music.constants`):
`NO_EVENT` holds the sounding note (or continues a rest), `NOTE_OFF` ends it, and
`FIRST_NOTE_TOKEN + pitch - MIN_PITCH` starts a note. Melodies produced here are always a
whole number of 2-bar chunks long, so `split_into_chunks` is a plain reshape.

Notes travel as three equal-length integer arrays (start step, end step, MIDI pitch), the
exchange format with MIDI and music21 readers. This module is numpy only.
"""

from __future__ import annotations

import numpy as np

from core.music.constants import FIRST_NOTE_TOKEN, MAX_PITCH, MIN_PITCH, NO_EVENT, NOTE_OFF, NUM_TOKENS, STEPS_PER_CHUNK

MELODY_DTYPE = np.int8


def pitch_to_token(pitch: np.ndarray | int) -> np.ndarray | int:
    """MIDI pitch (21..108) -> note-on token (2..89)."""
    return pitch - MIN_PITCH + FIRST_NOTE_TOKEN


def token_to_pitch(token: np.ndarray | int) -> np.ndarray | int:
    """Note-on token (2..89) -> MIDI pitch (21..108)."""
    return token - FIRST_NOTE_TOKEN + MIN_PITCH


def padded_length(num_steps: int) -> int:
    """Smallest whole number of 2-bar chunks (at least one) holding `num_steps` steps."""
    chunks = max(1, -(-num_steps // STEPS_PER_CHUNK))
    return chunks * STEPS_PER_CHUNK


LEGATO_STEPS = 2  # a note held less than an eighth past the next onset is played legato, not over it
MIN_TAIL_STEPS = 4  # a held lower note heard again once a higher one ends: a note only if a quarter or longer
GAP_STEPS = 4  # in a polyphonic part, a note starting less than a quarter after the line's last one ...
GAP_DROP = 12  # ... and more than an octave below it is the accompaniment heard through a gap in the tune


def top_line_notes(
    starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray,
    legato_steps: int = LEGATO_STEPS, min_tail_steps: int = MIN_TAIL_STEPS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The skyline of possibly polyphonic quantized notes: at every step the highest sounding note.

    A lower note that starts under a held higher one is not heard (a piano's left hand under a
    held melody note does not take the line over), and when the higher note ends, what is left
    of the lower one becomes a note only if it lasts `min_tail_steps` or more. A note held less
    than `legato_steps` past a later onset is cut there first: that is legato playing, not two
    voices. Where notes do sound together, a note that reaches the top in a short gap of the line
    (less than GAP_STEPS after the line's last note, more than GAP_DROP below it) is left out: a
    left hand heard between two melody notes. Notes outside MIDI 21..108 are left out; of equally
    high notes the later onset wins. A monophonic line without such overlaps comes back as it is
    (sorted by start).

    starts, ends, pitches: (N,) integer arrays, steps counted from the first bar line.
    Returns (M,) start, end and pitch arrays, sorted by start, never overlapping, for
    `melody_from_notes`.
    """
    starts, ends, pitches = (np.asarray(values, dtype=np.int64) for values in (starts, ends, pitches))
    keep = (pitches >= MIN_PITCH) & (pitches <= MAX_PITCH)
    starts, ends, pitches = starts[keep], np.maximum(ends[keep], starts[keep] + 1), pitches[keep]
    if starts.size == 0:
        return starts, ends, pitches
    onsets = np.unique(starts)
    next_onset = onsets[np.minimum(np.searchsorted(onsets, starts, side="right"), onsets.size - 1)]
    legato = (next_onset > starts) & (ends > next_onset) & (ends - next_onset < legato_steps)
    ends = np.where(legato, next_onset, ends)

    owner = np.full(int(ends.max()), -1, dtype=np.int64)  # (T,) the note heard at each step
    for index in np.lexsort((starts, pitches)):  # painted low to high: the highest, latest wins
        owner[starts[index]:ends[index]] = index
    change = np.flatnonzero(np.diff(owner, prepend=-2))
    run_ends = np.append(change[1:], owner.size)
    line = [(start, end, owner[start]) for start, end in zip(change, run_ends)
            if owner[start] >= 0 and (start == starts[owner[start]] or end - start >= min_tail_steps)]
    if not line:
        return (np.zeros(0, dtype=np.int64),) * 3
    line_starts, line_ends, notes = (np.array(values, dtype=np.int64) for values in zip(*line))
    line_pitches = pitches[notes]
    if np.sum(ends - starts) > np.count_nonzero(owner >= 0):  # notes sound together: a polyphonic part
        heard = _without_gap_fillers(line_starts, line_ends, line_pitches)
        line_starts, line_ends, line_pitches = line_starts[heard], line_ends[heard], line_pitches[heard]
    return line_starts, line_ends, line_pitches


def _without_gap_fillers(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    """(M,) bool: the top line's notes that belong to it, not accompaniment notes that came to the
    top in a short gap of the tune (GAP_STEPS, GAP_DROP), judged against the last note kept."""
    heard = np.ones(starts.size, dtype=bool)
    last = 0
    for index in range(1, starts.size):
        if starts[index] - ends[last] < GAP_STEPS and pitches[index] < pitches[last] - GAP_DROP:
            heard[index] = False
        else:
            last = index
    return heard


def melody_from_notes(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    """Reduce possibly polyphonic quantized notes to one melody line, as Magenta does.

    Rules (Magenta's `Melody.from_quantized_sequence` with `ignore_polyphonic_notes`):
    notes outside MIDI 21..108 are dropped; of notes starting on the same step only the
    highest is kept; a note starting while an earlier one still sounds cuts the earlier one
    short at its own start. Zero-length notes are stretched to one step.

    starts, ends, pitches: (N,) integer arrays, steps counted from the first bar line.
    Returns (T,) int8 tokens with T a multiple of 32; a note ending exactly at T gets no
    `NOTE_OFF` (the end of the melody ends it). An input without notes in range gives one
    silent chunk.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    pitches = np.asarray(pitches, dtype=np.int64)
    if not (starts.shape == ends.shape == pitches.shape and starts.ndim == 1):
        raise ValueError(
            f"starts, ends and pitches must be 1-D arrays of one length, got shapes "
            f"{starts.shape}, {ends.shape}, {pitches.shape}"
        )
    if starts.size and starts.min() < 0:
        raise ValueError(f"note starts must be >= 0 steps, got {int(starts.min())}")
    in_range = (pitches >= MIN_PITCH) & (pitches <= MAX_PITCH)
    starts, ends, pitches = starts[in_range], ends[in_range], pitches[in_range]
    ends = np.maximum(ends, starts + 1)

    order = np.lexsort((-pitches, starts))  # by start, highest pitch first
    starts, ends, pitches = starts[order], ends[order], pitches[order]
    first_at_step = np.ones(starts.size, dtype=bool)
    first_at_step[1:] = starts[1:] != starts[:-1]
    starts, ends, pitches = starts[first_at_step], ends[first_at_step], pitches[first_at_step]
    if starts.size > 1:
        ends[:-1] = np.minimum(ends[:-1], starts[1:])  # a new onset cuts the sounding note

    total = padded_length(int(ends.max()) if ends.size else 0)
    melody = np.full(total, NO_EVENT, dtype=MELODY_DTYPE)
    offs = ends[ends < total]
    melody[offs] = NOTE_OFF  # written first: an onset on the same step wins
    melody[starts] = pitch_to_token(pitches)
    return melody


def notes_from_melody(melody: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of `melody_from_notes` for canonical melodies.

    melody: (T,) tokens. Returns (starts, ends, pitches), each (N,) int64, one entry per
    note-on token; a note lasts until the next non-hold token or the end of the melody.
    """
    melody = validate_melody(melody)
    changes = np.flatnonzero(melody != NO_EVENT)
    onsets = changes[melody[changes] >= FIRST_NOTE_TOKEN]
    next_change = np.searchsorted(changes, onsets, side="right")
    boundaries = np.append(changes, melody.size)
    ends = boundaries[next_change]
    pitches = token_to_pitch(melody[onsets].astype(np.int64))
    return onsets.astype(np.int64), ends.astype(np.int64), pitches


def validate_melody(melody: np.ndarray) -> np.ndarray:
    """Check that `melody` is a 1-D token array with values in 0..89; return it as int8."""
    melody = np.asarray(melody)
    if melody.ndim != 1:
        raise ValueError(f"melody must be a 1-D token array, got shape {melody.shape}")
    if melody.size and (melody.min() < 0 or melody.max() >= NUM_TOKENS):
        raise ValueError(
            f"melody tokens must lie in 0..{NUM_TOKENS - 1}, got {melody.min()}..{melody.max()}"
        )
    return melody.astype(MELODY_DTYPE, copy=False)


def has_notes(melody: np.ndarray) -> bool:
    """True if the melody starts at least one note."""
    return bool((np.asarray(melody) >= FIRST_NOTE_TOKEN).any())


def movable_chunks(chunks: np.ndarray, movable: np.ndarray | None) -> np.ndarray:
    """Check that `chunks` is (K, 32) and `movable` one flag per chunk; return `movable` as (K,)
    bool, all True when None (the chunks a phrase-shaping step may change)."""
    if chunks.ndim != 2 or chunks.shape[1] != STEPS_PER_CHUNK:
        raise ValueError(f"chunks must have shape (K, {STEPS_PER_CHUNK}), got {chunks.shape}")
    movable = np.ones(len(chunks), dtype=bool) if movable is None else np.asarray(movable, dtype=bool)
    if movable.shape != (len(chunks),):
        raise ValueError(f"movable must hold one flag per chunk ({len(chunks)}), got shape {movable.shape}")
    return movable


def split_into_chunks(melody: np.ndarray) -> np.ndarray:
    """(T,) melody with T a multiple of 32 -> (T // 32, 32) 2-bar chunks."""
    melody = validate_melody(melody)
    if melody.size % STEPS_PER_CHUNK:
        raise ValueError(
            f"melody length {melody.size} is not a multiple of {STEPS_PER_CHUNK} steps "
            "(2 bars); pad it with NO_EVENT first"
        )
    return melody.reshape(-1, STEPS_PER_CHUNK)  # (N, 32)


def rest_chunk_mask(chunks: np.ndarray) -> np.ndarray:
    """(N, 32) chunks -> (N,) bool, True where a chunk starts no note (a rest chunk).

    The paper encodes rest chunks as the zero latent and decodes the zero latent as silence.
    """
    return ~(np.asarray(chunks) >= FIRST_NOTE_TOKEN).any(axis=-1)


def trim_rest_chunks(melody: np.ndarray) -> np.ndarray:
    """Drop leading and trailing rest chunks; an all-rest melody becomes empty (0,).

    A final note held on into a trailing rest chunk ends at the cut, as in the paper, where
    a chunk without onsets is a rest chunk whatever it holds.
    """
    chunks = split_into_chunks(melody)
    sounding = np.flatnonzero(~rest_chunk_mask(chunks))
    if sounding.size == 0:
        return melody[:0]
    return chunks[sounding[0] : sounding[-1] + 1].reshape(-1)  # (T',)


def pitch_range(melody: np.ndarray) -> tuple[int, int] | None:
    """(lowest, highest) MIDI pitch of the melody's notes, or None for a silent melody."""
    melody = validate_melody(melody)
    tokens = melody[melody >= FIRST_NOTE_TOKEN]
    if tokens.size == 0:
        return None
    return int(token_to_pitch(int(tokens.min()))), int(token_to_pitch(int(tokens.max())))
