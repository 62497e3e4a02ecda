"""The training loop shared by the diffusion model and the TransformerMDN.

Both learn windows of k normalized latents written by `train.encode`; they differ only in
their network, presets and loss, which a `SequenceTask` supplies. The loop runs on CPU, one
GPU or several through torchrun, with float16 autocast on CUDA, Adam with a staircase
learning-rate decay, gradient clipping, an optional EMA of the weights, periodic
safetensors checkpoints with `--resume`, held-out loss and a progress bar.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from core.checkpoint import load_weights_into, save_checkpoint
from core.transformer import parameter_count
from train.config_cli import add_override_flags, apply_overrides, pick_preset
from train.configs import SequenceTrainConfig
from train.run_state import (
    apply_gradients,
    has_run_checkpoint,
    restore_run_checkpoint,
    save_run_checkpoint,
    stored_config,
)
from train.runtime import Runtime, setup_runtime

LossFn = Callable[[nn.Module, torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class SequenceTask:
    name: str  # checkpoint name in run and model directories: "diffusion" or "mdn"
    model_config_class: type
    model_presets: dict
    train_presets: dict[str, SequenceTrainConfig]
    build: Callable[[object], nn.Module]
    loss: LossFn  # (model, x0 (B, K, D), generator) -> scalar


class LatentWindows:
    """Windows of k latents from a `train.encode` file, gathered into (B, k, D) batches."""

    def __init__(self, path: Path, split: str):
        with np.load(path, allow_pickle=False) as data:
            self.latents = data["latents"].astype(np.float32)
            self.offsets = data["track_offsets"]
            self.windows = data[f"windows_{split}"]
            self.length = int(data["window"])
        if len(self.windows) == 0:
            raise ValueError(f"{path} has no {split} windows of {self.length} latents")
        self.data_dims = self.latents.shape[1]

    def gather(self, rows: np.ndarray) -> torch.Tensor:
        starts = self.offsets[self.windows[rows, 0]] + self.windows[rows, 1]  # (B,)
        index = starts[:, None] + np.arange(self.length)  # (B, k)
        return torch.from_numpy(self.latents[index])  # (B, k, D)


def learning_rate(step: int, config: SequenceTrainConfig) -> float:
    return config.learning_rate * config.lr_decay ** (step // config.lr_decay_every)


@torch.no_grad()
def held_out_loss(model: nn.Module, task: SequenceTask, windows: LatentWindows, count: int, device) -> float:
    """Mean loss on a fixed set of held-out windows with a fixed noise generator."""
    model.eval()
    rows = np.linspace(0, len(windows.windows) - 1, min(count, len(windows.windows))).astype(np.int64)
    generator = torch.Generator().manual_seed(1234)
    losses = [task.loss(model, windows.gather(rows[i : i + 256]).to(device), generator).item()
              for i in range(0, len(rows), 256)]
    model.train()
    return float(np.mean(losses))


def train(task: SequenceTask, args: argparse.Namespace, model_config, config: SequenceTrainConfig,
          runtime: Runtime) -> tuple[nn.Module, dict]:
    out: Path = args.out
    resuming = args.resume and has_run_checkpoint(out, task.name)
    if resuming:
        model_config = stored_config(out, task.name, task.model_config_class)
    train_windows, eval_windows = LatentWindows(args.data, "train"), LatentWindows(args.data, "eval")
    if model_config.data_dims != train_windows.data_dims:
        raise ValueError(f"the model has data_dims={model_config.data_dims} but {args.data} holds "
                         f"{train_windows.data_dims}-dim latents")
    model = task.build(model_config).to(runtime.device)
    ema = copy.deepcopy(model).eval() if config.ema_decay > 0 else None
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    step = 0
    if resuming:
        step = restore_run_checkpoint(out, task.name, model, optimizer)
        if ema is not None:
            load_weights_into(ema, out / f"{task.name}_ema.safetensors")
    rng = np.random.default_rng([config.seed, runtime.rank, step])
    generator = torch.Generator().manual_seed(config.seed * 7919 + runtime.rank * 104729 + step)
    stepper = runtime.wrap(model)
    scaler = torch.amp.GradScaler("cuda", enabled=runtime.use_amp)
    per_rank_batch = max(1, config.batch_size // runtime.world_size)
    if runtime.is_main:
        print(f"training {task.name} {model_config} ({parameter_count(model) / 1e6:.2f}M parameters) on "
              f"{len(train_windows.windows)} windows, {runtime.device}", file=sys.stderr)
    log = (out / "metrics.jsonl").open("a") if runtime.is_main else None
    record: dict = {}
    bar = tqdm(total=config.steps, initial=step, desc=task.name, disable=not runtime.is_main,
               mininterval=1.0 if sys.stderr.isatty() else 30.0)
    model.train()
    while step < config.steps:
        x0 = train_windows.gather(rng.integers(0, len(train_windows.windows), per_rank_batch)).to(runtime.device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        with runtime.autocast():
            loss = task.loss(stepper, x0, generator)
        apply_gradients(loss, model, optimizer, scaler, config.grad_clip)
        if ema is not None:
            with torch.no_grad():
                for ema_param, param in zip(ema.parameters(), model.parameters()):
                    ema_param.lerp_(param, 1.0 - config.ema_decay)
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        if runtime.is_main and (step % config.checkpoint_every == 0 or step == config.steps):
            extra = {"train_config": dataclasses.asdict(config), "data": str(args.data)}
            save_run_checkpoint(out, task.name, model, model_config, optimizer, step, extra)
            if ema is not None:
                save_checkpoint(out, f"{task.name}_ema", ema, model_config, step, extra)
        if step % config.eval_every == 0 or step == config.steps:
            if runtime.is_main:
                evaluated = ema if ema is not None else model
                record = {"step": step, "train_loss": loss.item(),
                          "eval_loss": held_out_loss(evaluated, task, eval_windows, config.eval_windows, runtime.device)}
                log.write(json.dumps(record) + "\n")
                log.flush()
                bar.write(" ".join(f"{k}={v:.5g}" for k, v in record.items()))
            runtime.barrier()
    bar.close()
    if log is not None:
        log.close()
    return (ema if ema is not None else model), record


def build_parser(task: SequenceTask) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m train.train_{task.name}",
                                     description=f"Train the {task.name} model on latent windows "
                                                 "written by `python -m train.encode`.")
    parser.add_argument("--config", default="demo", help=f"preset: {sorted(task.train_presets)} (default demo)")
    parser.add_argument("--data", type=Path, default=Path("data/latents_music21.npz"), help="latents from train.encode")
    parser.add_argument("--out", type=Path, default=Path(f"runs/{task.name}"), help="run directory for checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--export", type=Path, help="model directory to write the final model into (EMA weights if on)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    add_override_flags(parser, task.model_config_class, "model size")
    add_override_flags(parser, SequenceTrainConfig, "training")
    return parser


def main(task: SequenceTask, argv: Sequence[str] | None = None) -> None:
    parser = build_parser(task)
    args = parser.parse_args(argv)
    try:
        model_config = pick_preset(task.model_presets, args.config)
        if args.data.is_file() and getattr(args, "data_dims", None) is None:
            with np.load(args.data) as data:  # the codec decides the data dims
                model_config = dataclasses.replace(model_config, data_dims=int(data["latents"].shape[1]))
        model_config = apply_overrides(model_config, args)
        config = apply_overrides(pick_preset(task.train_presets, args.config), args)
    except ValueError as error:
        parser.error(str(error))
    runtime = setup_runtime(args.device, amp=not args.no_amp)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        model, record = train(task, args, model_config, config, runtime)
        if runtime.is_main and args.export is not None:
            save_checkpoint(args.export, task.name, model, model.config, config.steps,
                            {"train_config": dataclasses.asdict(config), "data": str(args.data), "eval": record})
            print(f"exported the {task.name} model to {args.export}: {record}", file=sys.stderr)
    except (FileNotFoundError, ValueError, KeyError) as error:
        parser.error(str(error))
    finally:
        runtime.close()
