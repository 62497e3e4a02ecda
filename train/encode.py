"""Encode the corpus into normalized latent sequences for the sequence models.

    python -m train.encode --model demo/model --data data/music21.npz --out data/latents_music21.npz

Every track of the melody cache becomes its sequence of 2-bar latents (the posterior mean
mu; rest chunks are the zero latent), moved into C first for a key-normalized VAE, with each
chunk's outline (its first and last onset pitch, `core.music.outlines`). The
latent codec is fitted on the non-rest training chunks and saved into the model bundle,
recorded as fitted on this VAE's weights. An
existing codec is reused only if it was fitted on the same VAE; `--refit-codec` replaces
it, and the sequence models trained on the old latents leave the bundle's manifest (their
files stay) until they are retrained, so that the rest of the bundle keeps loading.
The output (`core.data.latent_sequences.LatentSequences`) holds the normalized latents of every
track with its split and style, and the hashes of the VAE and codec that made them. The
forms of the training tunes (which 2-bar chunks restate which: `core.music.forms`) are written into
the bundle too (`forms.json`), for sampling melodies "like the style's tunes".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from core.bundle import (
    DEFAULT_MODEL_DIR,
    REBUILD_HINTS,
    VAE_ENCODER,
    encoder_sha256,
    forget_stale_components,
    read_manifest,
    record_component,
    weights_sha256,
)
from core.data.latent_sequences import LatentSequences
from core.data.melody_cache import TRAIN, MelodyCache
from core.music.forms import corpus_forms, write_forms
from core.music.melody import rest_chunk_mask, split_into_chunks
from core.music.outlines import chunk_outlines
from core.nets.codec import DEFAULT_SIGMA_THRESHOLD, LatentCodec
from core.nets.vae import MusicVAE, load_vae


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


def codec_for(model_dir: Path, encoder_sha: str, refit: bool) -> LatentCodec | None:
    """The bundle's codec if it was fitted on the VAE encoder with weights `encoder_sha`; None when it
    must be (re)fitted. Raises ValueError for a codec of another encoder unless `refit`."""
    if refit or not (model_dir / "codec.json").is_file():
        return None
    entry = read_manifest(model_dir)["components"].get("codec")
    if entry is None:
        raise ValueError(f"the codec in {model_dir} is not in the bundle's manifest, so it cannot be told which VAE it "
                         "was fitted on; pass --refit-codec to fit it on this VAE")
    fitted = entry["fitted_on"].get(VAE_ENCODER, "")
    if fitted != encoder_sha:
        raise ValueError(f"the codec in {model_dir} was fitted on another VAE encoder ({fitted[:12]}, the bundle's "
                         f"is {encoder_sha[:12]}); pass --refit-codec to fit it on this VAE")
    return LatentCodec.load(model_dir)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.encode", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="model bundle with the VAE")
    parser.add_argument("--data", type=Path, default=Path("data/music21.npz"), help="melody cache")
    parser.add_argument("--out", type=Path, default=Path("data/latents_music21.npz"), help="output .npz")
    parser.add_argument("--refit-codec", action="store_true", help="fit and save the codec even if present")
    parser.add_argument("--sigma-threshold", type=float, default=DEFAULT_SIGMA_THRESHOLD,
                        help=f"keep dims with mean posterior sigma below this (default {DEFAULT_SIGMA_THRESHOLD})")
    parser.add_argument("--components", type=int,
                        help="keep this many principal components of the informative dims instead of the dims "
                             "(for a VAE that uses all its dims; see docs/data-and-training.md)")
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    try:
        cache = MelodyCache.load(args.data)
        vae = load_vae(args.model)
        encoder_sha = encoder_sha256(args.model)
        codec = codec_for(args.model, encoder_sha, args.refit_codec)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))

    chunks = cache.chunks(key_normalized=vae.config.key_normalized)  # all tracks in cache order
    track_lengths = np.diff(cache.track_offsets) // chunks.shape[1]
    track_split = cache.item_split[cache.track_items]
    chunk_split = np.repeat(track_split, track_lengths)
    rest = rest_chunk_mask(chunks)
    mu, sigma = encode_chunks(vae, chunks, args.batch_size)

    if codec is None:
        fit_rows = (chunk_split == TRAIN) & ~rest
        try:
            codec = LatentCodec.fit(torch.from_numpy(mu[fit_rows]), torch.from_numpy(sigma[fit_rows]),
                                    args.sigma_threshold, args.components)
        except ValueError as error:
            parser.error(str(error))
        codec.save(args.model)
        record_component(args.model, "codec", {VAE_ENCODER: encoder_sha})
        kept = "principal components" if args.components else "dims"
        print(f"fitted the codec on {fit_rows.sum()} chunks: kept {codec.data_dims} {kept} of {codec.z_size} dims "
              f"(mean sigma below {args.sigma_threshold}); saved to {args.model}", file=sys.stderr)
        for name in forget_stale_components(args.model, "codec"):
            print(f"the {name} model in {args.model} learnt the old codec's latents: left out of the bundle's "
                  f"manifest until it is retrained ({REBUILD_HINTS[name].replace('DIR', str(args.model))})",
                  file=sys.stderr)
    latents = codec.transform(torch.from_numpy(mu)).numpy().astype(np.float32)  # (N, D)
    sequences = LatentSequences(
        latents=latents,
        outlines=chunk_outlines(chunks).astype(np.int16),
        track_offsets=np.concatenate([[0], np.cumsum(track_lengths)]).astype(np.int64),
        track_split=track_split.astype(np.int8),
        track_styles=cache.track_styles(),
        encoder_sha256=encoder_sha,
        codec_sha256=weights_sha256(args.model, "codec"),
    )
    sequences.save(args.out)
    tunes = {style: [split_into_chunks(cache.track_melody(track)) for track in cache.track_indices("train", style)]
             for style in cache.styles()}
    forms_path = write_forms(args.model, corpus_forms(tunes))
    inside = np.abs(latents[~rest]).max()
    print(f"wrote {args.out}: {len(latents)} latents of {latents.shape[1]} dims in {len(track_lengths)} tracks, "
          f"max |x| {inside:.3f}; the training tunes' forms to {forms_path}")


if __name__ == "__main__":
    main()
