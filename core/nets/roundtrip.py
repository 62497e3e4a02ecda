"""Greedy VAE reconstruction of 2-bar chunks and its scores, for training, evaluation and tests.

A note matches when its onset step and pitch agree; rest chunks are left to the caller.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from core.data.melody_cache import MelodyCache
from core.music.constants import FIRST_NOTE_TOKEN
from core.music.keys import normalizing_shift, transpose_melody
from core.music.melody import rest_chunk_mask, split_into_chunks
from core.nets.vae import MusicVAE


@torch.no_grad()
def reconstruct(vae: MusicVAE, chunks: np.ndarray, batch_size: int = 512,
                latent_map: Callable[[torch.Tensor], torch.Tensor] | None = None) -> np.ndarray:
    """(N, 32) int tokens -> (N, 32) int64 reconstructions decode(mu(x)), the most likely chunk of each latent.

    latent_map: applied to mu (B, Z) before decoding, e.g. the codec's round trip.
    """
    device = next(vae.parameters()).device
    outputs = []
    for start in range(0, len(chunks), batch_size):
        tokens = torch.as_tensor(chunks[start : start + batch_size], dtype=torch.long, device=device)
        mu, _ = vae.encode(tokens)
        outputs.append(vae.decode(latent_map(mu) if latent_map else mu).cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, chunks.shape[1]), np.int64)


def reconstruct_melodies(vae: MusicVAE, melodies: Sequence[np.ndarray],
                         latent_map: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[np.ndarray]:
    """Reconstructions of whole melodies, each (T,) with T a multiple of 32 -> (T,) int64,
    all chunks decoded in shared batches.

    A key-normalized VAE gets each melody moved into C and its reconstruction moved back; rest
    chunks stay as they are (silence by rule). latent_map: as for `reconstruct`."""
    shifts = [normalizing_shift(melody) if vae.config.key_normalized else 0 for melody in melodies]
    chunked = [split_into_chunks(transpose_melody(melody, shift)).astype(np.int64)
               for melody, shift in zip(melodies, shifts)]  # (K_i, 32) each
    if not chunked:
        return []
    chunks = np.concatenate(chunked)  # (sum K_i, 32)
    sounding = ~rest_chunk_mask(chunks)
    if sounding.any():
        chunks[sounding] = reconstruct(vae, chunks[sounding], latent_map=latent_map)
    parts = np.split(chunks, np.cumsum([len(c) for c in chunked])[:-1])
    return [transpose_melody(part.reshape(-1), -shift).astype(np.int64) for part, shift in zip(parts, shifts)]


def reconstruction_scores(original: np.ndarray, reconstructed: np.ndarray) -> dict[str, float]:
    """Token accuracy, note precision / recall / F1 and exact-chunk share of (N, 32) pairs."""
    if original.shape != reconstructed.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {reconstructed.shape}")
    onsets_true = original >= FIRST_NOTE_TOKEN
    onsets_pred = reconstructed >= FIRST_NOTE_TOKEN
    matched = int((onsets_true & (original == reconstructed)).sum())
    true_notes, predicted_notes = int(onsets_true.sum()), int(onsets_pred.sum())
    precision = matched / max(predicted_notes, 1)
    recall = matched / max(true_notes, 1)
    return {
        "chunks": int(original.shape[0]),
        "token_accuracy": float((original == reconstructed).mean()),
        "note_precision": precision,
        "note_recall": recall,
        "note_f1": 2 * precision * recall / max(precision + recall, 1e-12),
        "exact_chunks": float((original == reconstructed).all(axis=1).mean()),
    }


def held_out_chunks(cache: MelodyCache, split: str, count: int, style: str | None = None,
                    seed: int = 0, key_normalized: bool = False) -> np.ndarray:
    """Up to `count` non-rest chunks of a cache split (and style), a fixed random sample: (n, 32).

    key_normalized: chunks of tracks moved into C, as a key-normalized VAE sees them."""
    chunks = cache.chunks(split, style, key_normalized)
    chunks = chunks[~rest_chunk_mask(chunks)]
    order = np.random.default_rng(seed).permutation(len(chunks))[:count]
    return chunks[np.sort(order)]
