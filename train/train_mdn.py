"""Train the TransformerMDN baseline (negative log-likelihood of each next latent), on the
same spans, labels and padding as the diffusion model (`train.train_sequence`).

    python -m train.train_mdn --config demo --data data/latents_music21.npz --out runs/mdn
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.nets.mdn import Mixture, TransformerMDN, mixture_nll
from train import train_sequence
from train.train_sequence import LatentBatch, hide_outlines


def mdn_loss(model: nn.Module, batch: LatentBatch, generator: torch.Generator | None = None,
             outline_dropout: float = 0.0) -> torch.Tensor:
    """Mean negative log-likelihood per real latent, in float32 even under autocast; latents (B, L, D).
    An outline-conditioned model sees the outlines of all spans but an `outline_dropout` share
    (drawn from `generator`)."""
    mixture = model(batch.latents, batch.padding, batch.style, batch.positions,
                    hide_outlines(batch.outlines, outline_dropout, generator))
    mixture = Mixture(mixture.logits.float(), mixture.means.float(), mixture.log_sigmas.float())
    nll = mixture_nll(mixture, batch.latents.float())  # (B, L)
    real = batch.real[..., 0]
    return (nll * real).sum() / real.sum()


class MDNTask(train_sequence.LatentSpanTask):
    name = "mdn"
    model_class = TransformerMDN

    def loss(self, model: nn.Module, batch: LatentBatch, step: int,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """The generator draws only which spans hide their outlines."""
        loss = mdn_loss(model, batch, generator, self.config.outline_dropout)
        return loss, {"loss": loss.item()}

    def sample_check(self, model: nn.Module, style: torch.Tensor, length: int,
                     generators: list[torch.Generator]) -> torch.Tensor:
        return model.sample(len(generators), length, generators, style=style)


def main(argv: Sequence[str] | None = None) -> None:
    train_sequence.main(MDNTask, "mdn", "mdn_training", argv)


if __name__ == "__main__":
    main()
