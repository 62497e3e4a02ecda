"""Train the latent diffusion model (the paper's TransformerDDPM).

    python -m train.train_diffusion --config demo --data data/latents_music21.npz --out runs/diffusion
    torchrun --nproc_per_node=8 -m train.train_diffusion --config paper --data data/latents_lmd.npz

Loss (WaveGrad's continuous noise level): t ~ U{1..N}, alpha_bar ~ U(alpha_bar_t,
alpha_bar_{t-1}), x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps, and the network
predicts eps from (x_t, sqrt(alpha_bar)) under a mean squared error.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.denoiser import DENOISER_PRESETS, DenoiserConfig, TransformerDenoiser
from core.schedule import NoiseSchedule
from train import train_sequence
from train.configs import DIFFUSION_TRAIN_PRESETS

SCHEDULE = NoiseSchedule.linear()


def diffusion_loss(model: nn.Module, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mean squared error of the predicted noise at random continuous levels; x0: (B, K, D)."""
    alpha_bar = SCHEDULE.sample_training_levels(x0.shape[0], generator).to(x0.device)  # (B,)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_t = SCHEDULE.q_sample(x0, alpha_bar, noise)
    return torch.mean((model(x_t, alpha_bar.sqrt()) - noise) ** 2)


TASK = train_sequence.SequenceTask(
    name="diffusion",
    model_config_class=DenoiserConfig,
    model_presets=DENOISER_PRESETS,
    train_presets=DIFFUSION_TRAIN_PRESETS,
    build=TransformerDenoiser,
    loss=diffusion_loss,
)


def main(argv: Sequence[str] | None = None) -> None:
    train_sequence.main(TASK, argv)


if __name__ == "__main__":
    main()
