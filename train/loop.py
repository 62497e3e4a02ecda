"""One training loop for the VAE, the diffusion model and the TransformerMDN.

A `TrainTask` says what is learnt (model, batches, loss, evaluation, export); `train` owns
how: resume from the run directory, per-step seeding, Adam with the staircase /
exponential learning-rate schedule of `TrainConfig`, gradient clipping, an optional EMA of
the weights, mixed precision, DistributedDataParallel under torchrun, a progress bar and
`metrics.jsonl` on rank 0, periodic checkpoints and evaluations.

Seeding: the weights are initialized under `torch.manual_seed(seed)`; every step draws its
batch from `np.random.default_rng([seed, rank, step])` and its model noise from a torch
generator on the training device seeded from the same triple, so a resumed run repeats an
uninterrupted one and ranks draw different batches.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from core.nets.checkpoint import load_weights_into, read_meta
from core.nets.transformer import parameter_count
from train.configs import TrainConfig
from train.run_state import has_run_checkpoint, restore_run_checkpoint, save_run_checkpoint, stored_model_config
from train.runtime import Runtime


class TrainTask(Protocol):
    """What one model's training supplies to `train`."""

    name: str  # checkpoint name in run and model directories: "vae", "diffusion", "mdn"
    model_config: Any  # frozen dataclass of a fresh run's model (a resumed run uses the stored one)
    fitted_on: dict[str, str]  # hashes of what it learns from (the cache, or the VAE and codec of the latents)

    def build_model(self, model_config: Any) -> nn.Module:
        """A new model; ValueError if it does not fit the task's data."""

    def next_batch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> Any:
        """One training batch for this rank, drawn with `rng` only, on `device`."""

    def loss(self, model: nn.Module, batch: Any, step: int,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss to minimize and the figures to log, e.g. {"loss": 1.2, "kl": 30.0}.

        model: possibly DDP-wrapped; generator: on the model's device, for its noise.
        """

    def evaluate(self, model: nn.Module, step: int) -> dict[str, float]:
        """Held-out figures ("eval_..."); called on rank 0 in eval mode under no_grad."""

    def export(self, model: nn.Module, directory: Path, record: dict[str, Any]) -> None:
        """Write the trained model into a model bundle and enter it into its manifest."""


def learning_rate(step: int, config: TrainConfig) -> float:
    """lr * decay ** (step // every), floored at min_learning_rate (every = 1: exponential decay)."""
    decayed = config.learning_rate * config.lr_decay ** (step // config.lr_decay_every)
    return max(config.min_learning_rate, decayed)


def step_randomness(seed: int, rank: int, step: int) -> tuple[np.random.Generator, int]:
    """The numpy generator (batches) and torch seed (model noise) of one step of one rank."""
    torch_seed = int(np.random.SeedSequence([seed, rank, step, 1]).generate_state(1, np.uint64)[0])
    return np.random.default_rng([seed, rank, step]), torch_seed


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameter by parameter; buffers are copied."""
    for ema_param, param in zip(ema.parameters(), model.parameters()):
        ema_param.lerp_(param, 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)


def _apply_gradients(loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scaler: torch.amp.GradScaler, clip: float) -> None:
    """Backward pass, gradient-norm clipping at `clip` (0 = off), optimizer step (fp16-scaler-aware)."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    scaler.step(optimizer)
    scaler.update()


def check_same_data(run_dir: Path, task: TrainTask) -> None:
    """ValueError if the run in `run_dir` learnt from other data than `task` (say, latents of an older VAE)."""
    stored = read_meta(run_dir, task.name).get("fitted_on")
    if stored is not None and stored != task.fitted_on:
        changed = sorted(key for key in {*stored, *task.fitted_on} if stored.get(key) != task.fitted_on.get(key))
        raise ValueError(f"the {task.name} run in {run_dir} was trained on other data ({', '.join(changed)} changed "
                         "since); start a new run with another --out, or leave out --resume")


def _check_config(config: TrainConfig) -> None:
    for name in ("batch_size", "lr_decay_every", "eval_every", "checkpoint_every"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")
    if not 0 <= config.ema_decay < 1:
        raise ValueError(f"ema_decay must lie in [0, 1), got {config.ema_decay}")


def _format(record: dict[str, Any]) -> str:
    return " ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                    for key, value in record.items())


def _evaluate(task: TrainTask, model: nn.Module, step: int) -> dict[str, float]:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        metrics = task.evaluate(model, step)
    model.train(was_training)
    return metrics


def train(task: TrainTask, config: TrainConfig, run_dir: Path, resume: bool,
          runtime: Runtime, init_from: Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Train `task` to `config.steps`, checkpointing into `run_dir`.

    resume: continue from the checkpoint in `run_dir` (model, optimizer, EMA, step) if one
    exists. init_from: a model directory whose `<task.name>.safetensors` (same architecture)
    gives a new run its starting weights (fine-tuning); a resumed run ignores it. Returns the
    model to use (the EMA copy when EMA is on) and, on rank 0, the last evaluation record ({} on
    the other ranks).
    """
    _check_config(config)
    precision = runtime.resolve_precision(config.precision)
    run_dir.mkdir(parents=True, exist_ok=True)
    resuming = resume and has_run_checkpoint(run_dir, task.name)
    if resume and not resuming and runtime.is_main:
        print(f"--resume: no {task.name} checkpoint in {run_dir}, starting from step 0", file=sys.stderr)
    if resuming:
        check_same_data(run_dir, task)
    model_config = (stored_model_config(run_dir, task.name, type(task.model_config)) if resuming
                    else task.model_config)
    if model_config != task.model_config and runtime.is_main:
        print(f"--resume: keeping the stored model config {model_config}, not {task.model_config}", file=sys.stderr)
    torch.manual_seed(config.seed)
    model = task.build_model(model_config)
    if init_from is not None and not resuming:
        load_weights_into(model, init_from / f"{task.name}.safetensors", getattr(model, "ADDED_PARTS", ()))
        if runtime.is_main:
            print(f"starting from the weights of {init_from / task.name}", file=sys.stderr)
    model = model.to(runtime.device)
    ema = copy.deepcopy(model).requires_grad_(False).eval() if config.ema_decay > 0 else None
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    step = restore_run_checkpoint(run_dir, task.name, model, optimizer, scaler, ema) if resuming else 0
    final = ema if ema is not None else model
    stepper = runtime.wrap(model)
    generator = torch.Generator(runtime.device)
    per_rank_batch = max(1, config.batch_size // runtime.world_size)
    extra = {"train_config": dataclasses.asdict(config), "fitted_on": task.fitted_on}
    if runtime.is_main:
        print(f"training {task.name} {model_config} ({parameter_count(model) / 1e6:.2f}M "
              f"parameters) on {runtime.device} x{runtime.world_size}, {precision}, from step {step}",
              file=sys.stderr)
    log = (run_dir / "metrics.jsonl").open("a") if runtime.is_main else None
    bar = tqdm(total=config.steps, initial=step, desc=task.name, disable=not runtime.is_main,
               mininterval=1.0 if sys.stderr.isatty() else 30.0)
    record: dict[str, Any] = {}
    model.train()
    while step < config.steps:
        rng, torch_seed = step_randomness(config.seed, runtime.rank, step)
        generator.manual_seed(torch_seed)
        batch = task.next_batch(rng, per_rank_batch, runtime.device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        with runtime.autocast(precision):
            loss, stats = task.loss(stepper, batch, step, generator)
        _apply_gradients(loss, model, optimizer, scaler, config.grad_clip)
        if ema is not None:
            update_ema(ema, model, config.ema_decay)
        step += 1
        bar.update()
        bar.set_postfix({key: f"{value:.4g}" for key, value in stats.items()}, refresh=False)
        if runtime.is_main and (step % config.checkpoint_every == 0 or step == config.steps):
            save_run_checkpoint(run_dir, task.name, model, model_config, optimizer, scaler, ema, step, extra)
        if step % config.eval_every == 0 or step == config.steps:
            if runtime.is_main:
                record = {"step": step, **stats, "lr": learning_rate(step - 1, config), **_evaluate(task, final, step)}
                log.write(json.dumps(record) + "\n")
                log.flush()
                bar.write(_format(record))
            runtime.barrier()
    bar.close()
    if log is not None:
        log.close()
    if runtime.is_main and not record:  # resumed a run that had already finished
        record = {"step": step, **_evaluate(task, final, step)}
    return final, record

