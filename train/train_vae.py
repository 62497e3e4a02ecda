"""Train the 2-bar melody MusicVAE.

    python -m train.train_vae --config demo --data data/music21.npz --out runs/vae_demo
    python -m train.train_vae --config demo --out runs/vae_demo --resume   # continue
    torchrun --nproc_per_node=8 -m train.train_vae --config paper --data data/lmd.npz --out runs/vae

Trains on the non-rest chunks of the cache's train split with random transposition,
checkpoints to `--out` (weights, config, step, optimizer state; safetensors only), scores
held-out chunks every `eval_every` steps, and with `--export DIR` writes the final model
into a model directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from core.checkpoint import save_checkpoint
from core.melody import rest_chunk_mask
from core.vae import VAE_PRESETS, MusicVAE, VAEConfig, VAEOutput, gaussian_kl, shift_right
from eval_lab.reconstruction import reconstruct, reconstruction_scores
from train.augment import random_transpose
from train.config_cli import add_override_flags, apply_overrides, pick_preset
from train.configs import VAE_TRAIN_PRESETS, VAETrainConfig
from train.melody_cache import MelodyCache
from train.run_state import (
    apply_gradients,
    has_run_checkpoint,
    restore_run_checkpoint,
    save_run_checkpoint,
    stored_config,
)
from train.runtime import Runtime, setup_runtime


def sampling_probability(step: int, rate: float) -> float:
    """Inverse-sigmoid schedule: chance of feeding the model's own token instead of the truth."""
    if rate <= 0:
        return 0.0
    exponent = step / rate
    return 1.0 if exponent > 700 else 1.0 - rate / (rate + math.exp(exponent))


def kl_weight(step: int, config: VAETrainConfig) -> float:
    return config.max_beta * (1.0 - config.beta_rate**step)


def learning_rate(step: int, config: VAETrainConfig) -> float:
    return max(config.min_learning_rate, config.learning_rate * config.lr_decay_rate**step)


def vae_loss(output: VAEOutput, tokens: torch.Tensor, beta: float, free_bits: float) -> tuple[torch.Tensor, dict]:
    """Per-chunk summed cross-entropy + beta * (KL - free bits, at least 0), batch mean (as Magenta)."""
    reconstruction = F.cross_entropy(output.logits.float().transpose(1, 2), tokens, reduction="none").sum(-1)
    kl_penalty = (output.kl.float() - free_bits * math.log(2.0)).clamp(min=0.0)
    loss = reconstruction.mean() + beta * kl_penalty.mean()
    accuracy = (output.logits.argmax(-1) == tokens).float().mean()
    return loss, {"loss": loss.item(), "recon": reconstruction.mean().item(),
                  "kl": output.kl.float().mean().item(), "acc": accuracy.item()}


@torch.no_grad()
def evaluate(model: MusicVAE, chunks: np.ndarray, beta: float, config: VAETrainConfig) -> dict[str, float]:
    """Held-out teacher-forced loss (z = mu) and greedy reconstruction scores."""
    model.eval()
    device = next(model.parameters()).device
    tokens = torch.as_tensor(chunks, dtype=torch.long, device=device)
    mu, sigma = model.posterior(tokens)
    output = VAEOutput(model.decoder_logits(mu, shift_right(tokens)), mu, sigma, gaussian_kl(mu, sigma))
    _, stats = vae_loss(output, tokens, beta, config.free_bits)
    scores = reconstruction_scores(chunks, reconstruct(model, chunks))
    model.train()
    return {"eval_loss": stats["loss"], "eval_kl": stats["kl"], "eval_teacher_forced_acc": stats["acc"],
            "eval_token_accuracy": scores["token_accuracy"], "eval_note_f1": scores["note_f1"]}


def load_chunks(data: Path, split: str, limit: int | None = None, seed: int = 0) -> np.ndarray:
    """Non-rest chunks of a split, (N, 32) int8; `limit` takes a fixed random subset."""
    chunks = MelodyCache.load(data).chunks(split)
    chunks = chunks[~rest_chunk_mask(chunks)]
    if limit is not None and len(chunks) > limit:
        chunks = chunks[np.sort(np.random.default_rng(seed).permutation(len(chunks))[:limit])]
    return chunks


def train(args: argparse.Namespace, model_config: VAEConfig, config: VAETrainConfig,
          runtime: Runtime) -> tuple[MusicVAE, dict]:
    """Train to `config.steps`; returns the model and the last evaluation record."""
    out: Path = args.out
    resuming = args.resume and has_run_checkpoint(out, "vae")
    if resuming:
        model_config = stored_config(out, "vae", VAEConfig)
    model = MusicVAE(model_config).to(runtime.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    step = 0
    if resuming:
        step = restore_run_checkpoint(out, "vae", model, optimizer)
    elif args.resume:
        print(f"--resume: no checkpoint in {out}, starting from step 0", file=sys.stderr)

    train_chunks = load_chunks(args.data, "train")
    eval_chunks = load_chunks(args.data, "eval", config.eval_chunks)
    if len(train_chunks) == 0:
        raise ValueError(f"{args.data} has no non-rest training chunks")
    per_rank_batch = max(1, config.batch_size // runtime.world_size)
    rng = np.random.default_rng([config.seed, runtime.rank, step])
    generator = torch.Generator(runtime.device).manual_seed(config.seed * 7919 + runtime.rank * 104729 + step)
    stepper = runtime.wrap(model)
    scaler = torch.amp.GradScaler("cuda", enabled=runtime.use_amp)
    log = (out / "metrics.jsonl").open("a") if runtime.is_main else None
    record: dict = {}
    if runtime.is_main:
        print(f"training MusicVAE {model_config} on {len(train_chunks)} chunks "
              f"({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, {runtime.device})",
              file=sys.stderr)
    bar = tqdm(total=config.steps, initial=step, desc="vae", disable=not runtime.is_main,
               mininterval=1.0 if sys.stderr.isatty() else 30.0)
    model.train()
    while step < config.steps:
        batch = random_transpose(train_chunks[rng.integers(0, len(train_chunks), per_rank_batch)], rng,
                                 config.transpose_semitones)
        tokens = torch.as_tensor(batch, dtype=torch.long, device=runtime.device)
        beta = kl_weight(step, config)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        with runtime.autocast():
            output = stepper(tokens, sampling_probability(step, config.sampling_rate), generator)
            loss, stats = vae_loss(output, tokens, beta, config.free_bits)
        apply_gradients(loss, model, optimizer, scaler, config.grad_clip)
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{stats['loss']:.2f}", kl=f"{stats['kl']:.1f}", acc=f"{stats['acc']:.3f}",
                        beta=f"{beta:.2f}", refresh=False)
        if runtime.is_main and (step % config.checkpoint_every == 0 or step == config.steps):
            extra = {"train_config": dataclasses.asdict(config), "data": str(args.data)}
            save_run_checkpoint(out, "vae", model, model_config, optimizer, step, extra)
        if step % config.eval_every == 0 or step == config.steps:
            if runtime.is_main:
                record = {"step": step, **stats, "beta": beta, **evaluate(model, eval_chunks, beta, config)}
                log.write(json.dumps(record) + "\n")
                log.flush()
                bar.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
            runtime.barrier()
    bar.close()
    if log is not None:
        log.close()
    return model, record


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train.train_vae", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="demo", help=f"preset: {sorted(VAE_TRAIN_PRESETS)} (default demo)")
    parser.add_argument("--data", type=Path, default=Path("data/music21.npz"), help="melody cache (.npz)")
    parser.add_argument("--out", type=Path, default=Path("runs/vae"), help="run directory for checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--export", type=Path, help="model directory to write the final VAE into")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    add_override_flags(parser, VAEConfig, "model size")
    add_override_flags(parser, VAETrainConfig, "training")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        model_config = apply_overrides(pick_preset(VAE_PRESETS, args.config), args)
        config = apply_overrides(pick_preset(VAE_TRAIN_PRESETS, args.config), args)
    except ValueError as error:
        parser.error(str(error))
    runtime = setup_runtime(args.device, amp=not args.no_amp)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        model, record = train(args, model_config, config, runtime)
        if runtime.is_main and args.export is not None:
            save_checkpoint(args.export, "vae", model, model.config, config.steps,
                            {"train_config": dataclasses.asdict(config), "data": str(args.data), "eval": record})
            print(f"exported the VAE to {args.export}: {record}", file=sys.stderr)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
