"""Train the TransformerMDN baseline (negative log-likelihood of each next latent).

    python -m train.train_mdn --config demo --data data/latents_music21.npz --out runs/mdn
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from core.bundle import record_component
from core.mdn import Mixture, TransformerMDN, mixture_nll
from train import train_sequence


def mdn_loss(model: nn.Module, x0: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per latent, in float32 even under autocast; x0: (B, K, D)."""
    mixture = model(x0)
    mixture = Mixture(mixture.logits.float(), mixture.means.float(), mixture.log_sigmas.float())
    return mixture_nll(mixture, x0.float()).mean()


class MDNTask(train_sequence.LatentWindowTask):
    name = "mdn"
    model_class = TransformerMDN

    def loss(self, model: nn.Module, x0: torch.Tensor, step: int,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """Deterministic: the generator is not used."""
        loss = mdn_loss(model, x0)
        return loss, {"loss": loss.item()}

    def export(self, model: nn.Module, directory: Path, record: dict) -> None:
        """mdn into the bundle, fitted on the latents' VAE and codec."""
        self.save_model(model, directory, record)
        record_component(directory, self.name, self.fitted_on)


def main(argv: Sequence[str] | None = None) -> None:
    train_sequence.main(MDNTask, "mdn", "mdn_training", argv)


if __name__ == "__main__":
    main()
