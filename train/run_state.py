"""What a training run shares between its loops: the optimizer step and resumable checkpoints.

A run directory holds NAME.safetensors + NAME.json (the model, loadable on its own) and
NAME_optimizer.safetensors (Adam's moments), all safetensors, so `--resume` continues
exactly where the last checkpoint left off.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.checkpoint import (
    config_from_dict,
    load_optimizer_tensors,
    load_weights_into,
    optimizer_tensors,
    read_meta,
    save_checkpoint,
)


def apply_gradients(loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler, clip: float) -> None:
    """Backward pass, gradient-norm clipping at `clip`, optimizer step (AMP-aware)."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    scaler.step(optimizer)
    scaler.update()


def has_run_checkpoint(out: Path, name: str) -> bool:
    return (out / f"{name}.json").is_file()


def stored_config(out: Path, name: str, config_class: type):
    """The model config a run directory was trained with."""
    return config_from_dict(config_class, read_meta(out, name)["config"], str(out / f"{name}.json"))


def save_run_checkpoint(out: Path, name: str, model: nn.Module, config, optimizer: torch.optim.Optimizer,
                        step: int, extra: dict) -> None:
    save_checkpoint(out, name, model, config, step, extra)
    save_file(optimizer_tensors(optimizer), str(out / f"{name}_optimizer.safetensors"))


def restore_run_checkpoint(out: Path, name: str, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load weights and optimizer state from a run directory; returns the step reached."""
    load_weights_into(model, out / f"{name}.safetensors")
    load_optimizer_tensors(optimizer, load_file(str(out / f"{name}_optimizer.safetensors")))
    return int(read_meta(out, name)["step"])
