"""Encode the corpus into normalized latent sequences for the sequence models.

    python -m train.encode --model demo/model --data data/music21.npz --out data/latents_music21.npz

Every track of the melody cache becomes its sequence of 2-bar latents (the posterior mean
mu; rest chunks are the zero latent). The latent codec is fitted on the non-rest training
chunks and saved into the model directory (unless it is there already and `--refit-codec`
is not given). The output holds the normalized latents of every track, per-track offsets
and splits, and the index of all windows of `--window` latents at `--stride`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from core.constants import CHUNKS_PER_WINDOW
from core.latents import DEFAULT_SIGMA_THRESHOLD, LatentCodec
from core.melody import rest_chunk_mask
from core.vae import MusicVAE, load_vae
from train.melody_cache import EVAL, TRAIN, MelodyCache


@torch.no_grad()
def encode_chunks(vae: MusicVAE, chunks: np.ndarray, batch_size: int = 1024,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32) tokens -> posterior (mu, sigma), each (N, Z) float32; rest chunks get mu = 0."""
    mus, sigmas = [], []
    for start in tqdm(range(0, len(chunks), batch_size), desc="encoding", unit="batch", disable=not progress):
        tokens = torch.as_tensor(chunks[start : start + batch_size], dtype=torch.long)
        mu, sigma = vae.encode(tokens)
        mus.append(mu.numpy())
        sigmas.append(sigma.numpy())
    return np.concatenate(mus), np.concatenate(sigmas)


def window_index(track_lengths: np.ndarray, window: int, stride: int) -> np.ndarray:
    """(W, 2) int64 rows (track, first chunk) of every `window`-long span at `stride`."""
    rows = [
        (track, start)
        for track, length in enumerate(track_lengths)
        for start in range(0, int(length) - window + 1, stride)
    ]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.encode", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("demo/model"), help="model directory with the VAE")
    parser.add_argument("--data", type=Path, default=Path("data/music21.npz"), help="melody cache")
    parser.add_argument("--out", type=Path, default=Path("data/latents_music21.npz"), help="output .npz")
    parser.add_argument("--window", type=int, default=CHUNKS_PER_WINDOW, help="latents per window (default 32)")
    parser.add_argument("--stride", type=int, default=1, help="latents between window starts (default 1)")
    parser.add_argument("--refit-codec", action="store_true", help="fit and save the codec even if present")
    parser.add_argument("--sigma-threshold", type=float, default=DEFAULT_SIGMA_THRESHOLD,
                        help=f"keep dims with mean posterior sigma below this (default {DEFAULT_SIGMA_THRESHOLD})")
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args(argv)
    if args.window < 1 or args.stride < 1 or args.batch_size < 1:
        parser.error("--window, --stride and --batch-size must be >= 1")
    try:
        cache = MelodyCache.load(args.data)
        vae = load_vae(args.model)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))

    chunks = cache.chunks()  # all tracks in cache order
    track_lengths = np.diff(cache.track_offsets) // chunks.shape[1]
    track_split = cache.item_split[cache.track_items]
    chunk_split = np.repeat(track_split, track_lengths)
    rest = rest_chunk_mask(chunks)
    mu, sigma = encode_chunks(vae, chunks, args.batch_size)

    if args.refit_codec or not (args.model / "codec.json").is_file():
        fit_rows = (chunk_split == TRAIN) & ~rest
        codec = LatentCodec.fit(torch.from_numpy(mu[fit_rows]), torch.from_numpy(sigma[fit_rows]), args.sigma_threshold)
        codec.save(args.model)
        print(f"fitted the codec on {fit_rows.sum()} chunks: kept {codec.data_dims} of {codec.z_size} dims "
              f"(mean sigma below {args.sigma_threshold}); saved to {args.model}", file=sys.stderr)
    else:
        codec = LatentCodec.load(args.model)
    latents = codec.transform(torch.from_numpy(mu)).numpy().astype(np.float32)  # (N, D)
    windows = {
        name: window_index(np.where(track_split == split, track_lengths, 0), args.window, args.stride)
        for name, split in (("train", TRAIN), ("eval", EVAL))
    }

    np.savez_compressed(
        args.out,
        latents=latents,
        is_rest=rest,
        track_offsets=np.concatenate([[0], np.cumsum(track_lengths)]).astype(np.int64),
        track_split=track_split.astype(np.int8),
        track_keys=cache.item_keys[cache.track_items],
        windows_train=windows["train"],
        windows_eval=windows["eval"],
        window=np.array(args.window),
    )
    inside = np.abs(latents[~rest]).max()
    print(f"wrote {args.out}: {len(latents)} latents of {latents.shape[1]} dims, max |x| {inside:.3f}, "
          f"windows train/eval at stride {args.stride}: {len(windows['train'])}/{len(windows['eval'])}")


if __name__ == "__main__":
    main()
