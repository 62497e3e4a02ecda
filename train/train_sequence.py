"""What the diffusion model and the TransformerMDN share: windows of encoded latents and their CLI.

Both learn windows of k = 32 consecutive normalized latents (64 bars, stride 1) from the
file `train.encode` writes (`core.latent_sequences.LatentSequences`); they differ in their
network, loss and export, which a subclass of `LatentWindowTask` supplies. A model
exported into a bundle records the VAE and codec the latents were made with, and a bundle
whose VAE or codec differs is refused before training starts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from core.bundle import weights_sha256
from core.constants import CHUNKS_PER_WINDOW
from core.latent_sequences import LatentSequences
from train.config_cli import apply_overrides, run_training, training_parser
from train.configs import SequenceTrainConfig
from train.presets import preset
from train.run_state import save_exported_model

EVAL_BATCH = 256
EVAL_SEED = 1234


def check_export_target(directory: Path, latents: LatentSequences) -> None:
    """ValueError if the bundle `directory` holds a VAE or codec other than the latents were made with."""
    for name, expected in (("vae", latents.vae_sha256), ("codec", latents.codec_sha256)):
        if (directory / f"{name}.safetensors").is_file() and weights_sha256(directory, name) != expected:
            raise ValueError(f"the latents were made with other weights than the {name} in {directory} "
                             f"({expected[:12]} vs {weights_sha256(directory, name)[:12]}); encode them again with "
                             f"`python -m train.encode --model {directory}`")


class LatentWindowTask:
    """Training over (B, 32, D) windows of latents (`train.loop.TrainTask`); subclasses set
    `name` and `model_class` and define `loss` and `export`."""

    name: str
    model_class: type[nn.Module]

    def __init__(self, latents: LatentSequences, data: Path, model_config: Any, config: SequenceTrainConfig):
        self.latents, self.data, self.model_config, self.config = latents, data, model_config, config
        self.fitted_on = {"vae": latents.vae_sha256, "codec": latents.codec_sha256}
        self.train_windows = latents.windows("train", CHUNKS_PER_WINDOW)  # (W, 2)
        eval_windows = latents.windows("eval", CHUNKS_PER_WINDOW)
        for split, windows in (("train", self.train_windows), ("eval", eval_windows)):
            if len(windows) == 0:
                raise ValueError(f"{data} has no {split} tracks of {CHUNKS_PER_WINDOW} latents or more")
        picked = np.linspace(0, len(eval_windows) - 1, min(config.eval_windows, len(eval_windows))).astype(np.int64)
        self.eval_windows = eval_windows[picked]

    def build_model(self, model_config: Any) -> nn.Module:
        if model_config.data_dims != self.latents.data_dims:
            raise ValueError(f"the model has data_dims={model_config.data_dims} but {self.data} holds "
                             f"{self.latents.data_dims}-dim latents")
        return self.model_class(model_config)

    def next_batch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> torch.Tensor:
        """(B, 32, D) training windows drawn uniformly."""
        rows = self.train_windows[rng.integers(0, len(self.train_windows), batch_size)]
        return self.latents.gather(rows, CHUNKS_PER_WINDOW).to(device)

    def evaluate(self, model: nn.Module, step: int) -> dict[str, float]:
        """Mean loss on the fixed held-out windows with a fixed noise generator."""
        device = next(model.parameters()).device
        generator = torch.Generator(device).manual_seed(EVAL_SEED)
        total = 0.0
        for start in range(0, len(self.eval_windows), EVAL_BATCH):
            x0 = self.latents.gather(self.eval_windows[start : start + EVAL_BATCH], CHUNKS_PER_WINDOW).to(device)
            total += self.loss(model, x0, step, generator)[0].item() * len(x0)
        return {"eval_loss": total / len(self.eval_windows)}

    def save_model(self, model: nn.Module, directory: Path, record: dict) -> None:
        """NAME.safetensors + NAME.json into `directory` (the caller enters it into the manifest)."""
        save_exported_model(directory, self.name, model, self.config, self.data, record)


def main(task_class: type[LatentWindowTask], model_preset: str, train_preset: str,
         argv: Sequence[str] | None = None) -> None:
    """The CLI of a sequence model; `model_preset` / `train_preset` name its `train.presets.Preset` fields."""
    template = preset("paper")  # its config types give the override flags
    parser = training_parser(f"python -m train.train_{task_class.name}",
                             f"Train the {task_class.name} model on latent windows written by `python -m train.encode`.",
                             data_default=Path("data/latents_music21.npz"), data_help="latents from train.encode",
                             out_default=Path(f"runs/{task_class.name}"),
                             config_classes=((type(getattr(template, model_preset)), "model size"),
                                             (type(getattr(template, train_preset)), "training")))
    args = parser.parse_args(argv)
    try:
        chosen = preset(args.config)
        model_config = getattr(chosen, model_preset)
        config = apply_overrides(getattr(chosen, train_preset), args)
    except ValueError as error:
        parser.error(str(error))

    def make_task() -> LatentWindowTask:
        latents = LatentSequences.load(args.data)
        if args.export is not None:
            check_export_target(args.export, latents)
        dims = dataclasses.replace(model_config, data_dims=latents.data_dims)  # the codec decides, unless overridden
        return task_class(latents, args.data, apply_overrides(dims, args), config)

    run_training(parser, args, config, make_task)
