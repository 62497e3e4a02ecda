"""Train the TransformerMDN baseline (negative log-likelihood of each next latent).

    python -m train.train_mdn --config demo --data data/latents_music21.npz --out runs/mdn
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.mdn import MDN_PRESETS, MDNConfig, TransformerMDN, mixture_nll
from train import train_sequence
from train.configs import MDN_TRAIN_PRESETS


def mdn_loss(model: nn.Module, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mean negative log-likelihood per latent; x0: (B, K, D). Deterministic (no noise)."""
    return mixture_nll(model(x0), x0).mean()


TASK = train_sequence.SequenceTask(
    name="mdn",
    model_config_class=MDNConfig,
    model_presets=MDN_PRESETS,
    train_presets=MDN_TRAIN_PRESETS,
    build=TransformerMDN,
    loss=mdn_loss,
)


def main(argv: Sequence[str] | None = None) -> None:
    train_sequence.main(TASK, argv)


if __name__ == "__main__":
    main()
