"""The outline model: the coarse line of a tune, drawn before its latents (not in the paper).

A tune's outline is, for each 2-bar chunk, the pitch of its first onset and of its last and
its number of onsets (`core.music.outlines`). It carries what the latents alone leave to
chance: how one chunk joins the next (the interval across the seam), where the tune comes to
rest (its last note) and where it moves and where it holds. The model is a masked, any-order
model of the outline tokens: the non-causal transformer trunk of the sequence models reads
each chunk's tokens (one-hot, unknown ones as token 0) with its place in the tune and the
style, and predicts every token from the others. Trained with a random share of tokens hidden
per span (drawn uniformly per span), it draws a whole outline one token at a time in a random
order, each from the model's prediction given the tokens already drawn: free generation,
infilling around kept chunks (their tokens given) and tied chunks of a form (one token drawn
for all of them) are the same loop. The diffusion model then draws latents that follow the
outline (`TrunkConfig.outline_conditioned`) and the VAE decodes each chunk held to it
(`MusicVAE.decode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from core.music.outlines import OUTLINE_SILENT, OUTLINE_SLOTS, OUTLINE_TOKENS, OUTLINE_UNKNOWN
from core.nets.checkpoint import load_checkpoint
from core.nets.transformer import UNCONDITIONAL, TransformerTrunk, TrunkConfig


@dataclass(frozen=True)
class OutlineConfig(TrunkConfig):
    data_dims: int = OUTLINE_SLOTS * OUTLINE_TOKENS  # the one-hot tokens of each chunk


class OutlineModel(nn.Module):
    def __init__(self, config: OutlineConfig):
        super().__init__()
        if config.data_dims != OUTLINE_SLOTS * OUTLINE_TOKENS:
            raise ValueError(f"an outline model reads {OUTLINE_SLOTS * OUTLINE_TOKENS} dims, the config says "
                             f"{config.data_dims}")
        self.config = config
        self.trunk = TransformerTrunk(config, causal=False)
        self.norm = nn.LayerNorm(config.model_dims)
        self.head = nn.Linear(config.model_dims, OUTLINE_SLOTS * OUTLINE_TOKENS)

    def forward(self, outlines: torch.Tensor, padding: torch.Tensor | None = None, style: torch.Tensor | None = None,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        """outlines: (B, K, S) long tokens (S = OUTLINE_SLOTS), OUTLINE_UNKNOWN where hidden -> logits
        (B, K, S, OUTLINE_TOKENS) of every token (padding, style, positions as for the trunk)."""
        inputs = F.one_hot(outlines, OUTLINE_TOKENS).float().flatten(2)  # (B, K, S V)
        hidden = self.norm(self.trunk(inputs, padding, style, positions))
        return self.head(hidden).view(*outlines.shape, OUTLINE_TOKENS)

    def guided_logits(self, outlines: torch.Tensor, style: torch.Tensor, guidance: float,
                      positions: torch.Tensor | None = None) -> torch.Tensor:
        """Classifier-free guided logits, as `GuidedDenoiser` guides the noise: (B, K, S, V)."""
        free = torch.full_like(style, UNCONDITIONAL)
        if guidance == 0 or bool((style == UNCONDITIONAL).all()):
            return self(outlines, style=free, positions=positions)
        if guidance == 1:
            return self(outlines, style=style, positions=positions)
        both = self(torch.cat([outlines, outlines]), style=torch.cat([free, style]),
                    positions=None if positions is None else torch.cat([positions, positions]))
        unstyled, styled = both.chunk(2)
        return unstyled + guidance * (styled - unstyled)


@torch.no_grad()
def draw_outlines(model: OutlineModel, known: torch.Tensor, style: torch.Tensor, generators: list[torch.Generator],
                  guidance: float = 1.0, sources: torch.Tensor | None = None,
                  positions: torch.Tensor | None = None,
                  temperature: float | tuple[float, ...] = 1.0) -> torch.Tensor:
    """Draw every unknown token of `known` (B, K, OUTLINE_SLOTS) long outlines, one at a time in a random order
    per row (from that row's generator), each from the guided prediction given all tokens so far.

    style: (B,) style indices; sources: (B, K) long, the latent whose outline each latent shares (a
    form's ties: itself where free), so one token is drawn for a tied group; positions: (B, K, 2)
    places in the tune (None: whole tunes); temperature divides the logits, one for all slots or one per
    slot. A chunk is silent in all its slots or in none. Returns (B, K, S) long with no unknown token left.
    """
    temperatures = torch.as_tensor(temperature, dtype=torch.float32).expand(OUTLINE_SLOTS)
    if bool((temperatures <= 0).any()):
        raise ValueError(f"temperatures must be > 0, got {temperature}")
    device = next(model.parameters()).device
    temperatures = temperatures.to(device)[:, None]  # (S, 1)
    outlines = known.to(device).clone()
    batch, length = outlines.shape[:2]
    if sources is None:
        sources = torch.arange(length, device=device)[None].expand(batch, -1)
    sources = sources.to(device)
    own = sources == torch.arange(length, device=device)[None]  # (B, K): latents that draw their own outline
    orders = []
    for row in range(batch):
        slots = ((outlines[row] == OUTLINE_UNKNOWN) & own[row, :, None]).flatten().nonzero()[:, 0]
        orders.append(slots[torch.randperm(len(slots), generator=generators[row]).to(device)])
    style = style.to(device)
    for step in range(max((len(order) for order in orders), default=0)):
        logits = model.guided_logits(outlines, style, guidance, positions).float() / temperatures  # (B, K, S, V)
        logits[..., OUTLINE_UNKNOWN] = -torch.inf
        sounding = ((outlines != OUTLINE_UNKNOWN) & (outlines != OUTLINE_SILENT)).any(dim=-1)  # (B, K)
        logits[..., OUTLINE_SILENT] = logits[..., OUTLINE_SILENT].masked_fill(sounding[..., None], -torch.inf)
        for row, order in enumerate(orders):
            if step >= len(order):
                continue
            latent, side = divmod(int(order[step]), OUTLINE_SLOTS)
            if outlines[row, latent, side] != OUTLINE_UNKNOWN:  # made silent with another slot of its chunk
                continue
            probs = torch.softmax(logits[row, latent, side], dim=-1).cpu()
            token = int(torch.multinomial(probs, 1, generator=generators[row]))
            tied = sources[row] == latent
            if token == OUTLINE_SILENT:  # a silent chunk is silent in every slot
                outlines[row, tied] = outlines[row, tied].masked_fill(outlines[row, tied] == OUTLINE_UNKNOWN, token)
            else:
                outlines[row, tied & (outlines[row, :, side] == OUTLINE_UNKNOWN), side] = token
    return outlines


def load_outline_model(directory: str | Path, device: str | torch.device = "cpu") -> OutlineModel:
    """The outline model of a model directory (`outline.json` + `.safetensors`), eval mode."""
    model, _ = load_checkpoint(directory, "outline", OutlineConfig, OutlineModel, device)
    return model
