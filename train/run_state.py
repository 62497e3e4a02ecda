"""A resumable run directory: everything `--resume` needs to continue exactly, as safetensors.

For a task named NAME the directory holds NAME.safetensors + NAME.json (the model with its
config and step, loadable on its own), NAME_optimizer.safetensors (Adam's per-parameter
state, and the fp16 gradient scaler's) and, when EMA is on, NAME_ema.safetensors. Together with per-step seeding
(`train.loop.step_randomness`) they make a resumed run repeat an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.nets.checkpoint import config_from_dict, load_weights_into, read_meta, save_checkpoint

HALF_PRECISION_ABOVE_BYTES = 32 * 2**20  # exported weights larger than this in float32 are stored in float16


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Flatten per-parameter optimizer state to "INDEX.KEY" tensors (Adam: step, exp_avg, exp_avg_sq)."""
    flat = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            flat[f"{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return flat


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, flat: dict[str, torch.Tensor]) -> None:
    """Inverse of `optimizer_tensors` for an optimizer over the same parameter list."""
    state_dict = optimizer.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in flat.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = tensor
    state_dict["state"] = state
    optimizer.load_state_dict(state_dict)


def _save_atomic(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file(tensors, str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)


def has_run_checkpoint(run_dir: Path, name: str) -> bool:
    return (run_dir / f"{name}.json").is_file()


def stored_model_config(run_dir: Path, name: str, config_class: type):
    """The model config the run in `run_dir` was started with."""
    return config_from_dict(config_class, read_meta(run_dir, name)["config"], str(run_dir / f"{name}.json"))


def save_exported_model(directory: Path, name: str, model: nn.Module, train_config: Any, data: Path,
                        record: dict) -> None:
    """NAME.safetensors + NAME.json into a model bundle: the model's config, the step reached, and
    the training config, data path and last evaluation (the caller enters it into the manifest).
    Weights past HALF_PRECISION_ABOVE_BYTES in float32 are stored in float16 (`store_in_half`)."""
    save_checkpoint(directory, name, model, model.config, record["step"],
                    {"train_config": dataclasses.asdict(train_config), "data": str(data), "eval": record})
    store_in_half(directory / f"{name}.safetensors")


def store_in_half(path: Path, above_bytes: int = HALF_PRECISION_ABOVE_BYTES) -> bool:
    """Rewrite an exported weights file's floating tensors in float16 when in float32 they pass
    `above_bytes` (committed files stay well under 50 MB; loading copies them into float32
    parameters). Returns whether it did."""
    tensors = load_file(str(path))
    if sum(tensor.numel() * 4 for tensor in tensors.values() if tensor.is_floating_point()) <= above_bytes:
        return False
    _save_atomic({key: tensor.half() if tensor.is_floating_point() else tensor for key, tensor in tensors.items()}, path)
    return True


def save_run_checkpoint(run_dir: Path, name: str, model: nn.Module, model_config: Any,
                        optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, ema: nn.Module | None,
                        step: int, extra: dict) -> None:
    """Write the model (+ config, step, extra), the optimizer and scaler state and the EMA weights."""
    save_checkpoint(run_dir, name, model, model_config, step, extra)
    scaler_state = {f"scaler.{key}": torch.tensor(value) for key, value in scaler.state_dict().items()}
    _save_atomic({**optimizer_tensors(optimizer), **scaler_state}, run_dir / f"{name}_optimizer.safetensors")
    if ema is not None:
        _save_atomic({key: value.detach().cpu().contiguous() for key, value in ema.state_dict().items()},
                     run_dir / f"{name}_ema.safetensors")


def restore_run_checkpoint(run_dir: Path, name: str, model: nn.Module, optimizer: torch.optim.Optimizer,
                           scaler: torch.amp.GradScaler, ema: nn.Module | None) -> int:
    """Load what `save_run_checkpoint` wrote into freshly built objects; returns the step reached."""
    load_weights_into(model, run_dir / f"{name}.safetensors")
    stored = load_file(str(run_dir / f"{name}_optimizer.safetensors"))
    scaler_state = {key.removeprefix("scaler."): stored.pop(key).item() for key in list(stored)
                    if key.startswith("scaler.")}
    load_optimizer_tensors(optimizer, stored)
    if scaler.is_enabled() and scaler_state:
        scaler.load_state_dict(scaler_state)
    if ema is not None:
        ema_path = run_dir / f"{name}_ema.safetensors"
        if not ema_path.is_file():
            raise ValueError(f"{run_dir} was trained without EMA ({ema_path.name} is missing); resume with "
                             "--ema-decay 0 or start a new run")
        load_weights_into(ema, ema_path)
    return int(read_meta(run_dir, name)["step"])
