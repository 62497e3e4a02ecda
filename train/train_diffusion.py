"""Train the latent diffusion model (the paper's TransformerDDPM).

    python -m train.train_diffusion --config demo --data data/latents_music21.npz --out runs/diffusion
    torchrun --nproc_per_node=8 -m train.train_diffusion --config paper --data data/latents_lmd.npz

Loss (WaveGrad's continuous noise level): t ~ U{1..N}, alpha_bar ~ U(alpha_bar_t,
alpha_bar_{t-1}), x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps, and the network
predicts eps from (x_t, sqrt(alpha_bar), padding, style) under a mean squared error over the
real positions of each span (`train.train_sequence`). The linear noise
schedule comes from the training config (`--beta-start`, `--beta-end`,
`--diffusion-steps`) and is exported with the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from core.bundle import record_component
from core.data.latent_sequences import LatentSequences
from core.diffusion.samplers import get_sampler, initial_noise
from core.diffusion.schedule import SCHEDULE_NAME, NoiseSchedule
from core.nets.denoiser import GuidedDenoiser, TransformerDenoiser
from train import train_sequence
from train.configs import DiffusionTrainConfig
from train.train_sequence import LatentBatch, hide_outlines


def diffusion_loss(model: nn.Module, batch: LatentBatch, schedule: NoiseSchedule,
                   generator: torch.Generator, outline_dropout: float = 0.0) -> torch.Tensor:
    """Mean squared error of the predicted noise at random continuous levels, over real positions;
    an outline-conditioned model sees the outlines of all spans but an `outline_dropout` share.

    batch.latents: (B, L, D) on the generator's device; returns a scalar.
    """
    x0 = batch.latents
    alpha_bar = schedule.sample_training_levels(x0.shape[0], generator)  # (B,) on the generator's device
    noise = torch.randn(x0.shape, generator=generator, device=x0.device)
    x_t = schedule.q_sample(x0, alpha_bar, noise)
    outlines = hide_outlines(batch.outlines, outline_dropout, generator)
    predicted = model(x_t, alpha_bar.sqrt(), batch.padding, batch.style, batch.positions, outlines)  # (B, L, D)
    error = (predicted.float() - noise) ** 2  # (B, L, D)
    real = batch.real
    return (error * real).sum() / (real.sum() * x0.shape[-1])


class DiffusionTask(train_sequence.LatentSpanTask):
    name = "diffusion"
    model_class = TransformerDenoiser

    def __init__(self, latents: LatentSequences, data: Path, model_config: Any, config: DiffusionTrainConfig,
                 decoder_dir: Path | None = None):
        super().__init__(latents, data, model_config, config, decoder_dir)
        self.schedule = NoiseSchedule.linear(config.beta_start, config.beta_end, config.diffusion_steps)

    def loss(self, model: nn.Module, batch: LatentBatch, step: int,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        loss = diffusion_loss(model, batch, self.schedule, generator, self.config.outline_dropout)
        return loss, {"loss": loss.item()}

    def sample_check(self, model: nn.Module, style: torch.Tensor, length: int,
                     generators: list[torch.Generator]) -> torch.Tensor:
        """The fast sampler, conditional (guidance 1)."""
        device = next(model.parameters()).device
        noise = initial_noise((len(generators), length, model.config.data_dims), generators, device)
        return get_sampler("fast")(GuidedDenoiser(model, style.to(device), 1.0), self.schedule, noise,
                                   generators).latents

    def export(self, model: nn.Module, directory: Path, record: dict) -> None:
        """diffusion + schedule into the bundle, fitted on the latents' VAE and codec and the schedule."""
        self.save_model(model, directory, record)
        self.schedule.save(directory)
        schedule_sha = record_component(directory, SCHEDULE_NAME, {})
        record_component(directory, self.name, {**self.fitted_on, "schedule": schedule_sha})


def main(argv: Sequence[str] | None = None) -> None:
    train_sequence.main(DiffusionTask, "denoiser", "diffusion_training", argv)


if __name__ == "__main__":
    main()
