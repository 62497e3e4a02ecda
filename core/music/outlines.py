"""A 2-bar chunk's outline: the pitch of its first onset and of its last, and how many onsets it has.

The outline is the coarse line a tune moves along from chunk to chunk: where each chunk starts,
where it comes to rest and how busy it is on the way. Two consecutive outlines give the
interval across the seam between their chunks, and the last chunk's last pitch is the tune's
last note. Each of the three is one token of one vocabulary of OUTLINE_TOKENS: `OUTLINE_UNKNOWN`
(0, not given) and `OUTLINE_SILENT` (1, the chunk has no onset) in every slot; the pitches as
their note-on tokens (`core.music.constants`: FIRST_NOTE_TOKEN.., the melody's own numbering),
the onset count n (1..32) as token FIRST_NOTE_TOKEN + n - 1.
"""

from __future__ import annotations

import numpy as np

from core.music.constants import FIRST_NOTE_TOKEN, NUM_TOKENS

OUTLINE_UNKNOWN = 0  # not given: to be drawn, or withheld from a model
OUTLINE_SILENT = 1  # the chunk has no onset
OUTLINE_TOKENS = NUM_TOKENS  # 0, 1 and the 88 note-on tokens (onset counts use the first 32 of them)
OUTLINE_SLOTS = 3  # first onset pitch, last onset pitch, onset count
FIRST, LAST, COUNT = range(OUTLINE_SLOTS)


def chunk_outlines(chunks: np.ndarray) -> np.ndarray:
    """(N, 32) melody tokens -> (N, OUTLINE_SLOTS) int64 outline tokens of each chunk."""
    chunks = np.asarray(chunks)
    onsets = chunks >= FIRST_NOTE_TOKEN  # (N, 32)
    steps = chunks.shape[1]
    first = onsets.argmax(axis=1)
    last = steps - 1 - onsets[:, ::-1].argmax(axis=1)
    rows = np.arange(len(chunks))
    counts = onsets.sum(axis=1)
    outlines = np.stack([chunks[rows, first], chunks[rows, last], FIRST_NOTE_TOKEN + counts - 1], axis=1)
    outlines = outlines.astype(np.int64)
    outlines[counts == 0] = OUTLINE_SILENT
    return outlines


def seam_intervals(outlines: np.ndarray) -> np.ndarray:
    """(K, OUTLINE_SLOTS) outline tokens of one tune -> the intervals in semitones across its seams
    where both sides have an onset (next chunk's first pitch minus this chunk's last), (<= K - 1,) int64."""
    outlines = np.asarray(outlines, dtype=np.int64)
    before, after = outlines[:-1, LAST], outlines[1:, FIRST]
    both = (before >= FIRST_NOTE_TOKEN) & (after >= FIRST_NOTE_TOKEN)
    return (after - before)[both]
