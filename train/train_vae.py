"""Train the 2-bar melody MusicVAE.

    python -m train.train_vae --config demo --data data/music21.npz --out runs/vae
    python -m train.train_vae --config demo --out runs/vae --resume --export demo/model   # continue
    torchrun --nproc_per_node=8 -m train.train_vae --config paper --data data/lmd.npz --out runs/vae

Trains on the non-rest chunks of the cache's train split (each track moved into C first when
the model config says `key_normalized`) with random transposition, each
batch balanced over the styles by `--style-weights` ("equal" shares, "natural" = uniform
over chunks, or "folk=2,renaissance=1,..."). Every `eval_every` steps it scores a fixed
held-out sample per style (teacher-forced loss and KL, reconstruction by beam search). With
`--export DIR` the final model goes into the model bundle DIR.

Decoder fine-tuning (`--freeze-encoder true --init-from DIR`) keeps every latent as it was, so the
bundle's codec and sequence models stay valid. With `--latent-noise S` it also teaches the decoder
the latents the sequence models hand it: it reads each latent through DIR's codec, as at
generation, and half of them moved by noise in the codec's normalized space (`SampledLikeLatents`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.bundle import file_sha256, record_component
from core.data.melody_cache import MelodyCache
from core.music.melody import rest_chunk_mask
from core.nets.codec import LatentCodec
from core.nets.roundtrip import held_out_chunks, reconstruct, reconstruction_scores
from core.nets.vae import MusicVAE, VAEConfig, VAEOutput, gaussian_kl, shift_right
from train.augment import random_transpose
from train.config_cli import apply_overrides, run_training, training_parser
from train.configs import VAETrainConfig
from train.presets import preset
from train.run_state import save_exported_model
from train.style_mix import style_shares

EVAL_BATCH = 512


def sampling_probability(step: int, rate: float) -> float:
    """Inverse-sigmoid schedule: chance of feeding the model's own token instead of the truth."""
    if rate <= 0:
        return 0.0
    exponent = step / rate
    return 1.0 if exponent > 700 else 1.0 - rate / (rate + math.exp(exponent))


def kl_weight(step: int, config: VAETrainConfig) -> float:
    """Annealed beta = max_beta * (1 - beta_rate ** step)."""
    return config.max_beta * (1.0 - config.beta_rate**step)


def vae_loss(output: VAEOutput, tokens: torch.Tensor, beta: float, free_bits: float) -> tuple[torch.Tensor, dict]:
    """Per-chunk summed cross-entropy + beta * (KL - free bits, at least 0), batch mean (as Magenta).

    output.logits: (B, 32, V); tokens: (B, 32). Stats: loss, recon, kl (nats), acc (tokens).
    """
    reconstruction = F.cross_entropy(output.logits.float().transpose(1, 2), tokens, reduction="none").sum(-1)
    kl_penalty = (output.kl.float() - free_bits * math.log(2.0)).clamp(min=0.0)
    loss = reconstruction.mean() + beta * kl_penalty.mean()
    accuracy = (output.logits.argmax(-1) == tokens).float().mean()
    return loss, {"loss": loss.item(), "recon": reconstruction.mean().item(),
                  "kl": output.kl.float().mean().item(), "acc": accuracy.item()}


class StyleBalancedChunks:
    """Training chunks grouped by style; each draw picks a style by its share, then a chunk in it."""

    def __init__(self, chunks_by_style: dict[str, np.ndarray], shares: dict[str, float]):
        self.styles = sorted(chunks_by_style)
        self.chunks = np.concatenate([chunks_by_style[style] for style in self.styles])  # (N, 32)
        self.counts = np.array([len(chunks_by_style[style]) for style in self.styles])  # (S,)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]])  # (S,) first row of each style
        self.shares = np.array([shares[style] for style in self.styles])

    def draw(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(count, 32) chunks and (count,) their style indices into `self.styles`."""
        styles = rng.choice(len(self.styles), size=count, p=self.shares)
        rows = self.offsets[styles] + (rng.random(count) * self.counts[styles]).astype(np.int64)
        return self.chunks[rows], styles


class SampledLikeLatents:
    """Posterior samples -> the latents a decoder reads at generation: z (B, Z) through the codec's
    normalized space and back (its kept directions only), with Gaussian noise of a std drawn per row
    from U(0, max_noise) added there to a `noised_share` of the rows: latents as a sampler that
    misses the data by a little gives them."""

    def __init__(self, codec: LatentCodec, max_noise: float, generator: torch.Generator, noised_share: float = 0.5):
        if max_noise < 0:
            raise ValueError(f"latent noise must be >= 0, got {max_noise}")
        self.codec, self.max_noise, self.generator, self.noised_share = codec, max_noise, generator, noised_share

    def __call__(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Z) posterior samples -> ((B, Z) latents to decode, (B,) the std of the noise each got)."""
        x = self.codec.transform(z)  # (B, D)
        rows = x.shape[0]
        draw = lambda *shape: torch.rand(shape, generator=self.generator, device=x.device)  # noqa: E731
        std = self.max_noise * draw(rows, 1) * (draw(rows, 1) < self.noised_share)  # (B, 1), 0 for clean rows
        noise = torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        return self.codec.inverse(x + std.to(x.dtype) * noise), std[:, 0]


def non_rest(chunks: np.ndarray) -> np.ndarray:
    return chunks[~rest_chunk_mask(chunks)]


class VAETask:
    """MusicVAE training on a melody cache (`train.loop.TrainTask`)."""

    name = "vae"

    def __init__(self, data: Path, model_config: VAEConfig, config: VAETrainConfig, codec: LatentCodec | None = None):
        """codec: the bundle's, for `config.latent_noise` (decoder fine-tuning; None otherwise)."""
        if config.latent_noise > 0 and codec is None:
            raise ValueError("latent_noise needs the codec of the bundle whose decoder is fine-tuned")
        cache = MelodyCache.load(data)
        self.data, self.model_config, self.config, self.codec = data, model_config, config, codec
        self.fitted_on = {"data": file_sha256(data)}
        in_c = model_config.key_normalized
        train = {style: non_rest(cache.chunks("train", style, in_c)) for style in cache.styles()}
        train = {style: chunks for style, chunks in train.items() if len(chunks)}
        if not train:
            raise ValueError(f"{data} has no non-rest training chunks")
        self.sampler = StyleBalancedChunks(
            train, style_shares(config.style_weights, {style: len(chunks) for style, chunks in train.items()}))
        held_out = {style: held_out_chunks(cache, "eval", config.eval_chunks, style, key_normalized=in_c)
                    for style in cache.styles()}
        self.held_out = {style: chunks for style, chunks in held_out.items() if len(chunks)}
        if not self.held_out:
            raise ValueError(f"{data} has no non-rest held-out (eval split) chunks")

    def build_model(self, model_config: VAEConfig) -> nn.Module:
        model = MusicVAE(model_config)
        if self.config.freeze_encoder:
            model.freeze_encoder()
        return model

    def next_batch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> torch.Tensor:
        """(B, 32) long tokens: style-balanced chunks, each transposed by a random shift."""
        chunks, _ = self.sampler.draw(rng, batch_size)
        chunks = random_transpose(chunks, rng, self.config.transpose_semitones)
        return torch.as_tensor(chunks, dtype=torch.long, device=device)

    def loss(self, model: nn.Module, tokens: torch.Tensor, step: int,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        beta = kl_weight(step, self.config)
        latent_map = None
        if self.config.latent_noise > 0:
            latent_map = SampledLikeLatents(self.codec, self.config.latent_noise, generator)
        output = model(tokens, sampling_probability(step, self.config.sampling_rate), generator, latent_map)
        loss, stats = vae_loss(output, tokens, beta, self.config.free_bits)
        return loss, {**stats, "beta": beta}

    def evaluate(self, model: nn.Module, step: int) -> dict[str, float]:
        """Teacher-forced loss, KL and accuracy (z = mu), and reconstruction scores (beam search) overall
        and per style ("eval_note_f1_folk", ...), on the fixed held-out sample."""
        chunks = np.concatenate(list(self.held_out.values()))  # (N, 32), style after style
        record = self._teacher_forced(model, chunks, kl_weight(step, self.config))
        reconstructed = reconstruct(model, chunks)  # (N, 32)
        per_style = np.split(reconstructed, np.cumsum([len(c) for c in self.held_out.values()])[:-1])
        groups = {"": (chunks, reconstructed),
                  **{f"_{style}": pair for style, pair in zip(self.held_out, zip(self.held_out.values(), per_style))}}
        for suffix, (original, guess) in groups.items():
            scores = reconstruction_scores(original, guess)
            record[f"eval_token_accuracy{suffix}"] = scores["token_accuracy"]
            record[f"eval_note_f1{suffix}"] = scores["note_f1"]
        return record

    def _teacher_forced(self, model: nn.Module, chunks: np.ndarray, beta: float) -> dict[str, float]:
        """Mean loss, KL and token accuracy of (N, 32) chunks decoded from z = mu with the true inputs."""
        device = next(model.parameters()).device
        totals = {"loss": 0.0, "kl": 0.0, "acc": 0.0}
        for start in range(0, len(chunks), EVAL_BATCH):
            tokens = torch.as_tensor(chunks[start : start + EVAL_BATCH], dtype=torch.long, device=device)
            mu, sigma = model.posterior(tokens)
            output = VAEOutput(model.decoder_logits(mu, shift_right(tokens)), mu, sigma, gaussian_kl(mu, sigma))
            _, stats = vae_loss(output, tokens, beta, self.config.free_bits)
            for key in totals:
                totals[key] += stats[key] * len(tokens) / len(chunks)
        return {"eval_loss": totals["loss"], "eval_kl": totals["kl"], "eval_teacher_forced_acc": totals["acc"]}

    def export(self, model: nn.Module, directory: Path, record: dict) -> None:
        """vae.safetensors + vae.json into the bundle, fitted on the cache file's hash."""
        save_exported_model(directory, self.name, model, self.config, self.data, record)
        record_component(directory, self.name, self.fitted_on)


def main(argv: Sequence[str] | None = None) -> None:
    parser = training_parser("python -m train.train_vae", __doc__, data_default=Path("data/music21.npz"),
                             data_help="melody cache (.npz) from train.prepare_data", out_default=Path("runs/vae"),
                             config_classes=((VAEConfig, "model size"), (VAETrainConfig, "training")))
    args = parser.parse_args(argv)
    try:
        chosen = preset(args.config)
        model_config, config = apply_overrides(chosen.vae, args), apply_overrides(chosen.vae_training, args)
    except ValueError as error:
        parser.error(str(error))
    if config.freeze_encoder and args.init_from is None and not args.resume:
        parser.error("--freeze-encoder true trains the decoder of an existing VAE: give its bundle with "
                     "--init-from DIR (or --resume a run); a new VAE needs its encoder trained too")
    if config.latent_noise > 0 and not (config.freeze_encoder and args.init_from is not None):
        parser.error("--latent-noise fine-tunes the decoder of an existing bundle for its sampled latents: "
                     "give --freeze-encoder true and the bundle with --init-from DIR (its codec is read)")
    codec = LatentCodec.load(args.init_from) if config.latent_noise > 0 else None
    run_training(parser, args, config, lambda: VAETask(args.data, model_config, config, codec))


if __name__ == "__main__":
    main()
