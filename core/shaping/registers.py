"""Register joining: each decoded 2-bar phrase moved by whole octaves so that phrases meet.

The VAE decodes every 2-bar latent on its own, so a phrase cannot see where the previous one
ended, and the diffusion model places consecutive phrases in neighbouring registers: the line
jumps between them at phrase boundaries where real voice parts move by step. `join_registers`
chooses one octave shift per phrase (-1, 0 or +1) by dynamic programming, minimizing the boundary leaps beyond a fifth plus a cost per shifted octave, so
the line moves on from where it was while its phrases, scale and rhythm stay as drawn.

Infilled bars move to meet the kept ones, which never move.
"""

from __future__ import annotations

import numpy as np

from core.music.constants import FIRST_NOTE_TOKEN, NUM_TOKENS
from core.music.melody import movable_chunks

OCTAVE_SHIFTS = np.array([0, -1, 1])  # octaves a phrase may move; on equal cost the first listed wins
FREE_INTERVAL = 7  # semitones: a boundary interval up to a fifth costs nothing
# semitones of boundary leap beyond a fifth worth one octave of shift (0.5, 1, 2 measured: leaps 2.9%, 3.9%, 5.2%)
SHIFT_COST = 0.5


def join_registers(chunks: np.ndarray, movable: np.ndarray | None = None) -> np.ndarray:
    """(K, 32) decoded chunks -> (K, 32), each chunk's notes moved by the octave in OCTAVE_SHIFTS
    that minimizes, over the whole melody, the boundary intervals beyond FREE_INTERVAL plus
    SHIFT_COST per octave moved. movable: (K,) bool, the chunks that may move (default all;
    infilling moves only the regenerated ones, to meet the kept ones). A shift that would leave
    the token range is never chosen; chunks without notes stay and are skipped (the phrases
    around them are joined)."""
    movable = movable_chunks(chunks, movable)
    onsets = [chunk[chunk >= FIRST_NOTE_TOKEN].astype(np.int64) for chunk in chunks]
    voiced = [index for index, notes in enumerate(onsets) if notes.size]
    if len(voiced) < 2:
        return chunks
    shifts = 12 * OCTAVE_SHIFTS  # (M,) semitones
    move_cost = SHIFT_COST * np.abs(OCTAVE_SHIFTS).astype(float)  # (M,)

    def allowed(index: int) -> np.ndarray:  # (M,) 0, or inf for a shift out of the token range or of a fixed chunk
        notes = onsets[index]
        fits = (notes.min() + shifts >= FIRST_NOTE_TOKEN) & (notes.max() + shifts < NUM_TOKENS)
        return np.where(fits & (movable[index] | (shifts == 0)), 0.0, np.inf)

    # dynamic programming from the last phrase back to the first, so that on equal cost the earlier
    # phrases keep their register (the first listed shift) and the later ones follow them
    cost = move_cost + allowed(voiced[-1])  # (M,) best total from each shift of this phrase on
    choices = []  # per earlier voiced chunk, (M,) the best shift of the next one for each of its shifts
    for earlier, later in zip(voiced[-2::-1], voiced[::-1]):
        ending = onsets[earlier][-1] + shifts  # (M,) the earlier phrase's last pitch
        starting = onsets[later][0] + shifts  # (M,) the later phrase's first pitch
        leap = np.abs(starting[None, :] - ending[:, None])  # (M earlier, M later)
        total = np.maximum(leap - FREE_INTERVAL, 0) + cost[None, :]
        choices.append(total.argmin(axis=1))
        cost = total.min(axis=1) + move_cost + allowed(earlier)
    chosen = [int(cost.argmin())]  # the first voiced phrase's shift, then each later one's
    for best_later in reversed(choices):
        chosen.append(int(best_later[chosen[-1]]))
    joined = chunks.copy()
    for index, shift in zip(voiced, chosen):
        notes = joined[index] >= FIRST_NOTE_TOKEN
        joined[index, notes] += shifts[shift]
    return joined
