"""Checkpoints: `NAME.safetensors` (tensors only, never pickles) plus `NAME.json`.

The JSON holds the model's frozen config, the training step and any extra fields; loading
rebuilds the model from the stored config and checks every tensor name and shape before
copying weights, so a config that does not match its weights fails with a clear message.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

ConfigT = TypeVar("ConfigT")


def config_from_dict(config_class: type[ConfigT], values: dict[str, Any], origin: str) -> ConfigT:
    """Build a frozen config dataclass, refusing unknown keys."""
    known = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"{origin}: unknown {config_class.__name__} keys {unknown}; known keys: {sorted(known)}"
        )
    return config_class(**values)


def save_checkpoint(
    directory: str | Path,
    name: str,
    model: nn.Module,
    config: Any,
    step: int,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `directory/name.safetensors` and `directory/name.json`; return the JSON path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    weights = directory / f"{name}.safetensors"
    save_file(tensors, str(weights) + ".tmp")
    os.replace(str(weights) + ".tmp", weights)
    meta = {"config": dataclasses.asdict(config), "step": int(step), **(extra or {})}
    meta_path = directory / f"{name}.json"
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta_path


def read_meta(directory: str | Path, name: str) -> dict[str, Any]:
    """The JSON side of a checkpoint."""
    path = Path(directory) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint config {path}")
    return json.loads(path.read_text())


def load_weights_into(model: nn.Module, weights_path: str | Path, added: tuple[str, ...] = ()) -> None:
    """Copy a safetensors file into `model`, after checking names and shapes match exactly, except
    that tensors whose names start with one of `added` (parts a fine-tune adds) may be missing from
    the file: they keep the values they have."""
    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise FileNotFoundError(f"no checkpoint weights {weights_path}")
    stored = load_file(str(weights_path))
    expected = model.state_dict()
    missing = sorted(name for name in set(expected) - set(stored) if not name.startswith(added))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{weights_path.name} does not match its config: missing tensors {missing[:5]}, "
            f"unexpected tensors {unexpected[:5]}; the JSON config and the weights come from "
            "different models"
        )
    for key, tensor in expected.items():
        if key in stored and stored[key].shape != tensor.shape:
            raise ValueError(
                f"{weights_path.name} does not match its config: tensor {key!r} has shape "
                f"{tuple(stored[key].shape)} in the file but the config builds "
                f"{tuple(tensor.shape)}; the JSON config and the weights come from different models"
            )
    model.load_state_dict(stored, strict=False)


def load_checkpoint(
    directory: str | Path,
    name: str,
    config_class: type[ConfigT],
    build: Callable[[ConfigT], nn.Module],
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from `directory/name.json` and load its weights; returns (model, meta)."""
    meta = read_meta(directory, name)
    config = config_from_dict(config_class, meta["config"], f"{directory}/{name}.json")
    model = build(config)
    load_weights_into(model, Path(directory) / f"{name}.safetensors")
    return model.to(device).eval(), meta
