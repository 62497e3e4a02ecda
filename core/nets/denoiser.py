"""The paper's diffusion network epsilon_theta(x_t, sqrt(alpha_bar)): R^{K x D} x R -> R^{K x D}.

Transformer trunk (non-causal) -> LayerNorm -> dense to `mlp_dims` -> noise-conditioned
residual blocks (LayerNorm, FiLM, swish, dense, twice, plus the skip) -> LayerNorm -> dense
back to D. Each block's FiLM scale and shift come from its own small network over the
sinusoidal encoding of 5000 * sqrt(alpha_bar). The network has no fixed length K; it takes
a key-padding mask and a style label (`core.nets.transformer`), and `GuidedDenoiser` turns it
into a classifier-free-guided denoiser for the samplers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from core.music.outlines import OUTLINE_UNKNOWN
from core.nets.checkpoint import load_checkpoint
from core.nets.transformer import UNCONDITIONAL, TransformerTrunk, TrunkConfig, sinusoidal_encoding, span_positions

NOISE_LEVEL_SCALE = 5000.0


@dataclass(frozen=True)
class DenoiserConfig(TrunkConfig):
    film_dims: int = 512  # hidden width of each block's noise-level network


class FiLMGenerator(nn.Module):
    """Noise level -> (scale, shift) for one residual block: encoding -> dense -> swish -> dense."""

    def __init__(self, embedding_dims: int, hidden_dims: int, out_dims: int):
        super().__init__()
        self.embedding_dims = embedding_dims
        self.hidden = nn.Sequential(nn.Linear(embedding_dims, hidden_dims), nn.SiLU(),
                                    nn.Linear(hidden_dims, hidden_dims))
        self.scale = nn.Linear(hidden_dims, out_dims)
        self.shift = nn.Linear(hidden_dims, out_dims)

    def forward(self, noise_level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """noise_level: (B,) sqrt(alpha_bar) -> scale, shift: (B, 1, out_dims)."""
        encoding = sinusoidal_encoding(NOISE_LEVEL_SCALE * noise_level, self.embedding_dims)  # (B, E)
        hidden = self.hidden(encoding)
        return self.scale(hidden)[:, None, :], self.shift(hidden)[:, None, :]


class FiLMResidualBlock(nn.Module):
    """x + dense(swish(FiLM(LN(dense(swish(FiLM(LN(x)))))))), one (scale, shift) for both FiLMs."""

    def __init__(self, dims: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dims), nn.LayerNorm(dims)
        self.dense1, self.dense2 = nn.Linear(dims, dims), nn.Linear(dims, dims)

    def forward(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        h = self.dense1(F.silu(scale * self.norm1(x) + shift))
        h = self.dense2(F.silu(scale * self.norm2(h) + shift))
        return x + h


class TransformerDenoiser(nn.Module):
    ADDED_PARTS = ("trunk.outline_embedding.",)  # fine-tuned in from scratch

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = c = config
        self.trunk = TransformerTrunk(c, causal=False)
        self.trunk_norm = nn.LayerNorm(c.model_dims)
        self.to_mlp = nn.Linear(c.model_dims, c.mlp_dims)
        self.films = nn.ModuleList(FiLMGenerator(c.model_dims, c.film_dims, c.mlp_dims) for _ in range(c.res_blocks))
        self.blocks = nn.ModuleList(FiLMResidualBlock(c.mlp_dims) for _ in range(c.res_blocks))
        self.out_norm = nn.LayerNorm(c.mlp_dims)
        self.out = nn.Linear(c.mlp_dims, c.data_dims)

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor, padding: torch.Tensor | None = None,
                style: torch.Tensor | None = None, positions: torch.Tensor | None = None,
                outlines: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, K, D) noisy latents; noise_level: (B,) sqrt(alpha_bar) -> predicted eps (B, K, D).

        padding: (B, K) bool, True where x is padding (its outputs there mean nothing);
        style: (B,) long style indices (`TrunkConfig.style_index`), None = unconditional;
        positions: (B, K, 2) long places in the tune (`core.nets.transformer`), None = x is whole tunes;
        outlines: (B, K, OUTLINE_SLOTS) long outline tokens (`core.music.outlines`), None = unknown.
        """
        h = self.to_mlp(self.trunk_norm(self.trunk(x, padding, style, positions, outlines)))  # (B, K, mlp_dims)
        for film, block in zip(self.films, self.blocks):
            h = block(h, *film(noise_level))
        return self.out(self.out_norm(h))


class GuidedDenoiser(nn.Module):
    """A denoiser fixed to one style per row, with classifier-free guidance (Ho & Salimans 2022).

    eps = eps(x, no style) + guidance * (eps(x, style) - eps(x, no style)): guidance 0 is
    the unconditional model, 1 the conditional one, above 1 pushes further toward the
    style. Rows whose style is "any" are unconditional whatever the guidance. Called like
    the denoiser (x, noise_level), so every sampler takes it.
    """

    def __init__(self, denoiser: TransformerDenoiser, style: torch.Tensor, guidance: float,
                 place: tuple[int, int] | None = None, outlines: torch.Tensor | None = None):
        super().__init__()
        if guidance < 0:
            raise ValueError(f"guidance must be >= 0, got {guidance}")
        self.denoiser, self.guidance = denoiser, guidance
        self.register_buffer("style", style.long(), persistent=False)  # (B,)
        self.place = place  # (first latent, tune length) of windows cut from longer tunes; None: x is whole tunes
        # (B, tune length, OUTLINE_SLOTS) outline tokens of the whole tunes (`core.music.outlines`); None: unknown
        self.outlines = outlines
        self.config = denoiser.config

    def placed(self, first: int, total: int) -> "GuidedDenoiser":
        """This denoiser for windows that start at latent `first` of tunes `total` latents long
        (windowed long sampling): the model hears each latent's real place in the tune."""
        return GuidedDenoiser(self.denoiser, self.style, self.guidance, (first, total), self.outlines)

    def outlines_for(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, K, OUTLINE_SLOTS) outlines of x's latents (the window's slice of the tune's, unknown past
        the tune's end), or None."""
        if self.outlines is None:
            return None
        first = 0 if self.place is None else self.place[0]
        window = self.outlines[:, first : first + x.shape[1]].to(x.device)
        return F.pad(window, (0, 0, 0, x.shape[1] - window.shape[1]), value=OUTLINE_UNKNOWN)

    def positions_for(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, K, 2) places of x's latents in their tune, or None for whole tunes."""
        if self.place is None:
            return None
        first, total = self.place
        return span_positions(first, x.shape[1], total, x.device)[None].expand(x.shape[0], -1, -1)

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor) -> torch.Tensor:
        """x: (B, K, D), noise_level: (B,) -> guided eps (B, K, D); one network call for guidance
        0, 1 or no styled row, else one call on the doubled batch."""
        unconditional = torch.full_like(self.style, UNCONDITIONAL)
        places, outlines = self.positions_for(x), self.outlines_for(x)
        if self.guidance == 0 or bool((self.style == UNCONDITIONAL).all()):
            return self.denoiser(x, noise_level, style=unconditional, positions=places, outlines=outlines)
        if self.guidance == 1:
            return self.denoiser(x, noise_level, style=self.style, positions=places, outlines=outlines)
        both = self.denoiser(torch.cat([x, x]), torch.cat([noise_level, noise_level]),
                             style=torch.cat([unconditional, self.style]),
                             positions=None if places is None else torch.cat([places, places]),
                             outlines=None if outlines is None else torch.cat([outlines, outlines]))
        eps_free, eps_styled = both.chunk(2)
        return eps_free + self.guidance * (eps_styled - eps_free)


def load_denoiser(directory: str | Path, device: str | torch.device = "cpu") -> TransformerDenoiser:
    """The diffusion network of a model directory (`diffusion.json` + `.safetensors`), eval mode."""
    model, _ = load_checkpoint(directory, "diffusion", DenoiserConfig, TransformerDenoiser, device)
    return model
