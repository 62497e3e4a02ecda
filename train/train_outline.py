"""Train the outline model (`core.nets.outline`) on the outlines of the encoded chunks.

    python -m train.train_outline --config demo --data data/latents_music21.npz --out runs/outline

The same spans, labels and padding as the sequence models (`train.train_sequence`). In each
span a share of the tokens drawn uniformly from 0 to 1 is hidden (OUTLINE_UNKNOWN), and the
loss is the cross-entropy of the hidden tokens given the rest: the model learns every
order of drawing, so that it draws free outlines, fills the gaps between kept chunks and
keeps a form's ties with one loop. Each evaluation draws `check_samples` outlines of
`check_latents` chunks of `check_style` and reports how often they leap across a seam
and where they end.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.data.latent_sequences import LatentSequences
from core.music.constants import FIRST_NOTE_TOKEN
from core.music.melody import token_to_pitch
from core.music.musicality import LEAP_SEMITONES
from core.music.outlines import LAST, OUTLINE_SLOTS, OUTLINE_UNKNOWN, seam_intervals
from core.nets.outline import OutlineModel, draw_outlines
from core.nets.transformer import UNCONDITIONAL
from train import train_sequence
from train.configs import SequenceTrainConfig
from train.train_sequence import LatentBatch, model_styles


def outline_loss(model: nn.Module, batch: LatentBatch, generator: torch.Generator) -> torch.Tensor:
    """Mean cross-entropy of the hidden tokens: in each span every token is hidden with one
    probability drawn uniformly per span. batch.outlines: (B, L, S); returns a scalar."""
    outlines = batch.outlines
    share = torch.rand(outlines.shape[0], 1, 1, generator=generator, device=outlines.device)
    drawn = torch.rand(outlines.shape, generator=generator, device=outlines.device)  # (B, L, S)
    hidden = (drawn < share) & ~batch.padding[..., None]
    logits = model(outlines.masked_fill(hidden, OUTLINE_UNKNOWN), batch.padding, batch.style, batch.positions)
    return F.cross_entropy(logits[hidden].float(), outlines[hidden]) if bool(hidden.any()) else logits.sum() * 0


class OutlineTask(train_sequence.LatentSpanTask):
    name = "outline"
    model_class = OutlineModel

    @staticmethod
    def fitted_config(model_config: Any, latents: LatentSequences, config: SequenceTrainConfig) -> Any:
        """Only the style labels come from the data: the model reads outline tokens, not latents."""
        return dataclasses.replace(model_config, styles=model_styles(latents, config))

    def build_model(self, model_config: Any) -> nn.Module:
        return OutlineModel(model_config)

    def loss(self, model: nn.Module, batch: LatentBatch, step: int,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        loss = outline_loss(model, batch, generator)
        return loss, {"loss": loss.item()}

    def musicality_check(self, model: nn.Module) -> dict[str, float]:
        """Drawn outlines of check_style: the share of seams that leap (past LEAP_SEMITONES)
        and the share that end on C (the tonic of a major tune moved into C)."""
        config = self.config
        style = model.config.style_index(config.check_style) if model.config.style_labels else UNCONDITIONAL
        generators = [torch.Generator().manual_seed(seed) for seed in range(config.check_samples)]
        known = torch.zeros(config.check_samples, config.check_latents, OUTLINE_SLOTS, dtype=torch.long)
        outlines = draw_outlines(model, known, torch.full((config.check_samples,), style), generators).cpu().numpy()
        intervals = np.concatenate([seam_intervals(row) for row in outlines])
        last = outlines[:, -1, LAST]
        ends = last[last >= FIRST_NOTE_TOKEN]
        return {"check_seam_leap_share": float(np.mean(np.abs(intervals) > LEAP_SEMITONES)) if len(intervals) else 0.0,
                "check_last_on_c_share": float(np.mean(token_to_pitch(ends) % 12 == 0)) if len(ends) else 0.0}


def main(argv: Sequence[str] | None = None) -> None:
    train_sequence.main(OutlineTask, "outline", "outline_training", argv)


if __name__ == "__main__":
    main()
