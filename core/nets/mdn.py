"""TransformerMDN: the paper's autoregressive baseline over latent sequences.

A causal transformer reads the sequence shifted right by one latent (a zero vector first),
then LayerNorm -> dense to `mlp_dims` -> residual MLP blocks -> LayerNorm -> a mixture
density head: for every position, `components` diagonal Gaussians over the next latent
(mixture logits, means, log standard deviations). Trained by negative log-likelihood;
sampled one latent at a time, with a sliding window past the training length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from core.nets.checkpoint import load_checkpoint
from core.nets.transformer import TransformerTrunk, TrunkConfig, span_positions, whole_tune_positions
from core.noise import Generators, multinomial, randn
from core.progress import ProgressCallback, SamplerProgress

LOG_SIGMA_RANGE = (-7.0, 2.0)


@dataclass(frozen=True)
class MDNConfig(TrunkConfig):
    components: int = 100  # diagonal Gaussians in the mixture


@dataclass
class Mixture:
    """Per-position mixture parameters; B = batch, K = positions, M = components, D = dims."""

    logits: torch.Tensor  # (B, K, M)
    means: torch.Tensor  # (B, K, M, D)
    log_sigmas: torch.Tensor  # (B, K, M, D)


def mixture_nll(mixture: Mixture, targets: torch.Tensor) -> torch.Tensor:
    """-log sum_m pi_m prod_d N(x_d; mu_md, sigma_md^2) per position: targets (B, K, D) -> (B, K)."""
    z = (targets[..., None, :] - mixture.means) * torch.exp(-mixture.log_sigmas)  # (B, K, M, D)
    log_normal = -0.5 * z.square() - mixture.log_sigmas - 0.5 * math.log(2 * math.pi)
    log_weights = F.log_softmax(mixture.logits, dim=-1)  # (B, K, M)
    return -torch.logsumexp(log_weights + log_normal.sum(-1), dim=-1)


class ResidualMLPBlock(nn.Module):
    def __init__(self, dims: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dims), nn.SiLU(), nn.Linear(dims, dims),
                                 nn.LayerNorm(dims), nn.SiLU(), nn.Linear(dims, dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class TransformerMDN(nn.Module):
    ADDED_PARTS = ("trunk.outline_embedding.",)  # fine-tuned in from scratch

    def __init__(self, config: MDNConfig):
        super().__init__()
        self.config = c = config
        self.trunk = TransformerTrunk(c, causal=True)
        self.head = nn.Sequential(nn.LayerNorm(c.model_dims), nn.Linear(c.model_dims, c.mlp_dims),
                                  *[ResidualMLPBlock(c.mlp_dims) for _ in range(c.res_blocks)],
                                  nn.LayerNorm(c.mlp_dims))
        self.mixture = nn.Linear(c.mlp_dims, c.components * (1 + 2 * c.data_dims))

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None,
                style: torch.Tensor | None = None, positions: torch.Tensor | None = None,
                outlines: torch.Tensor | None = None) -> Mixture:
        """x: (B, K, D) sequence -> mixture over x[:, j] given x[:, :j], for every j.

        padding: (B, K) bool, True at padded positions (at the end; causal attention alone
        keeps them from real positions, the mask keeps it so for any layout); style: (B,)
        long style indices, None = unconditional; positions: (B, K, 2) long places in the
        tune of the latents x[:, j] being predicted (`core.nets.transformer`), None = x is whole tunes;
        outlines: (B, K, OUTLINE_SLOTS) long outline tokens of the latents being predicted, None = unknown.
        """
        batch, length, dims = x.shape
        if positions is None and self.config.tune_positions:
            positions = whole_tune_positions(padding, batch, length, x.device)
        shifted = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)  # (B, K, D)
        # input j holds latent j - 1, so it is padding where latent j - 1 is
        shifted_padding = None if padding is None else torch.cat([torch.zeros_like(padding[:, :1]), padding[:, :-1]], dim=1)
        hidden = self.trunk(shifted, shifted_padding, style, positions, outlines)  # (B, K, C)
        params = self.mixture(self.head(hidden))  # (B, K, M * (1 + 2D))
        m = self.config.components
        logits = params[..., :m]
        means, log_sigmas = params[..., m:].reshape(batch, length, m, 2, dims).unbind(dim=3)
        return Mixture(logits, means, log_sigmas.clamp(*LOG_SIGMA_RANGE))

    @torch.no_grad()
    def sample(
        self,
        batch: int,
        length: int,
        generator: Generators,
        temperature: float = 1.0,
        window: int = 32,
        callback: ProgressCallback | None = None,
        style: torch.Tensor | None = None,
        firsts: torch.Tensor | None = None,
        sources: torch.Tensor | None = None,
        outlines: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw (batch, length, D) latents one at a time, conditioning on at most the last
        `window - 1` latents. temperature scales the standard deviations and divides the
        mixture logits. generator: one for the batch, or one per row (`core.noise`). callback: hears
        SamplerProgress(latents done, length, None) after each latent. style: (batch,) long
        style indices, None = unconditional (a mixture has no guidance: the label is given or not).
        firsts: (batch, length) long, the first latent of each latent's tie group (`core.music.forms`): a
        latent whose group began earlier restates that latent (an autoregressive model draws the
        phrase where it first stands; every later place conditions on it). sources: (batch, length)
        long, the latent whose draw each latent repeats (`core.music.forms.noise_sources`): an echoing
        latent takes its source's mixture component and standard normal noise, in its own context.
        outlines: (batch, length, OUTLINE_SLOTS) long outline tokens each latent is drawn to follow (None: unknown)."""
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        device = next(self.parameters()).device
        dims = self.config.data_dims
        out = torch.zeros(batch, 0, dims, device=device)
        rows = torch.arange(batch, device=device)
        components = torch.zeros(batch, length, dtype=torch.long, device=device)  # every position's draw ...
        normals = torch.zeros(batch, length, dims, device=device)  # ... its component and standard normal noise
        for position in range(length):
            context = out[:, -(window - 1):] if window > 1 else out[:, :0]
            places = span_positions(position - context.shape[1], context.shape[1] + 1, length, device)  # (C + 1, 2)
            places = places[None].expand(batch, -1, -1)
            seen = None if outlines is None else outlines[:, position - context.shape[1] : position + 1].to(device)
            mixture = self(torch.cat([context, torch.zeros(batch, 1, dims, device=device)], dim=1), style=style,
                           positions=places, outlines=seen)
            logits = mixture.logits[:, -1] / temperature  # (B, M)
            chosen = multinomial(torch.softmax(logits, -1), generator).to(device)
            noise = randn((batch, dims), generator, device)
            if sources is not None and position > 0:
                source = sources[:, position].to(device)  # (B,)
                echoing = source < position
                earlier = source.clamp(max=position - 1)
                chosen = torch.where(echoing, components[rows, earlier], chosen)
                noise = torch.where(echoing[:, None], normals[rows, earlier], noise)
            components[:, position], normals[:, position] = chosen, noise
            mean = mixture.means[:, -1][rows, chosen]  # (B, D)
            sigma = torch.exp(mixture.log_sigmas[:, -1][rows, chosen]) * temperature
            drawn = mean + sigma * noise  # (B, D)
            if firsts is not None and position > 0:
                first = firsts[:, position].to(device)  # (B,) where each row's tie group began
                drawn = torch.where((first < position)[:, None], out[rows, first.clamp(max=position - 1)], drawn)
            out = torch.cat([out, drawn[:, None]], dim=1)
            if callback is not None:
                callback(SamplerProgress(position + 1, length, None))
        return out


def load_mdn(directory: str | Path, device: str | torch.device = "cpu") -> TransformerMDN:
    """The TransformerMDN of a model directory (`mdn.json` + `mdn.safetensors`), eval mode."""
    model, _ = load_checkpoint(directory, "mdn", MDNConfig, TransformerMDN, device)
    return model
