"""How well the VAE reconstructs held-out 2-bar chunks through greedy decoding.

    python -m eval_lab.reconstruction --model demo/model --data data/music21.npz

Scores cover non-rest chunks only (rest chunks map to the zero latent and back to silence
by rule, so they are exact): token accuracy over all 32 steps, note precision / recall /
F1 where a note matches when onset step and pitch agree, and the share of exact chunks.
When the model directory has a codec, the same scores are also given for latents passed
through it (kept dims, dropped dims at their means), which is what diffusion works with.
The last line printed is `token_accuracy=<value>`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from core.constants import FIRST_NOTE_TOKEN
from core.latents import LatentCodec
from core.melody import rest_chunk_mask
from core.vae import MusicVAE, load_vae


@torch.no_grad()
def reconstruct(vae: MusicVAE, chunks: np.ndarray, batch_size: int = 512,
                latent_map: Callable[[torch.Tensor], torch.Tensor] | None = None) -> np.ndarray:
    """(N, 32) int tokens -> (N, 32) int64 greedy reconstructions decode(mu(x)).

    latent_map: applied to mu (B, Z) before decoding, e.g. the codec's round trip.
    """
    device = next(vae.parameters()).device
    outputs = []
    for start in range(0, len(chunks), batch_size):
        tokens = torch.as_tensor(chunks[start : start + batch_size], dtype=torch.long, device=device)
        mu, _ = vae.encode(tokens)
        outputs.append(vae.decode(latent_map(mu) if latent_map else mu).cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, chunks.shape[1]), np.int64)


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


def held_out_chunks(data: str | Path, split: str, count: int, seed: int = 0) -> np.ndarray:
    """Up to `count` non-rest chunks of a cache split, a fixed random sample: (n, 32)."""
    from train.melody_cache import MelodyCache

    chunks = MelodyCache.load(data).chunks(split)
    chunks = chunks[~rest_chunk_mask(chunks)]
    order = np.random.default_rng(seed).permutation(len(chunks))[:count]
    return chunks[np.sort(order)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.reconstruction", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("demo/model"), help="model directory with vae.json")
    parser.add_argument("--data", type=Path, default=Path("data/music21.npz"), help="melody cache")
    parser.add_argument("--split", choices=("train", "eval"), default="eval")
    parser.add_argument("--n", type=int, default=4000, help="number of non-rest chunks to score")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    try:
        chunks = held_out_chunks(args.data, args.split, args.n)
        vae = load_vae(args.model)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    scores = reconstruction_scores(chunks, reconstruct(vae, chunks))
    if (args.model / "codec.json").is_file():  # what the sequence models see: kept dims only
        codec = LatentCodec.load(args.model)
        through = reconstruction_scores(chunks, reconstruct(vae, chunks, latent_map=lambda mu: codec.inverse(codec.transform(mu))))
        scores.update({f"{key}_through_codec": value for key, value in through.items() if key != "chunks"})
        scores["codec_dims"] = codec.data_dims
    print(json.dumps(scores, indent=2))
    print(f"token_accuracy={scores['token_accuracy']:.4f}")


if __name__ == "__main__":
    main()
