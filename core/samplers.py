"""Reverse diffusion: DDPM and DDIM sampling, infilling and long sequences.

One update rule covers both samplers (Song et al. 2021, eq. 12): from the state x_t at
level alpha_bar_t to the level alpha_bar_s of an earlier step s < t,
    x0_hat = clip((x_t - sqrt(1 - a_t) eps) / sqrt(a_t), -1, 1)
    eps_hat = (x_t - sqrt(a_t) x0_hat) / sqrt(1 - a_t)
    sigma = eta * sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
    x_s = sqrt(a_s) x0_hat + sqrt(1 - a_s - sigma^2) eps_hat + sigma z.
With eta = 1 and s = t - 1 this is the ancestral DDPM step (Ho et al. eq. 6-7, posterior
variance); with eta = 0 it is deterministic DDIM. Every random draw uses the caller's
generator; progress goes out through an optional callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from core.schedule import NoiseSchedule

ProgressCallback = Callable[[int, int, torch.Tensor], None]  # (step done, total, x0 estimate)

SAMPLERS = ("ddpm", "ddim", "fast")  # "fast" is another name for ddim


@dataclass
class SampleResult:
    latents: torch.Tensor  # (B, K, D) the final sample, in the codec's normalized space
    intermediates: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # (t, x0 estimate)


def _randn(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


@torch.no_grad()
def reverse_step(
    model: nn.Module, schedule: NoiseSchedule, x: torch.Tensor, t: int, s: int, eta: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update from step t to step s < t (s = 0: clean). Returns (x_s, x0_hat), both (B, K, D)."""
    a_t = schedule.alpha_bars[t].double().item()
    a_s = schedule.alpha_bars[s].double().item()
    level = torch.full((x.shape[0],), a_t**0.5, device=x.device)
    eps = model(x, level)
    x0 = ((x - (1 - a_t) ** 0.5 * eps) / a_t**0.5).clamp(-1.0, 1.0)
    eps_hat = (x - a_t**0.5 * x0) / (1 - a_t) ** 0.5
    sigma = eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)) ** 0.5
    x_s = a_s**0.5 * x0 + max(1 - a_s - sigma**2, 0.0) ** 0.5 * eps_hat
    if sigma > 0:
        x_s = x_s + sigma * _randn(tuple(x.shape), generator, x.device)
    return x_s, x0


def sampler_plan(schedule: NoiseSchedule, sampler: str, steps: int | None) -> tuple[list[int], float]:
    """The steps visited and eta: ddpm = every step (or `steps` trailing ones) with eta 1,
    ddim (alias fast) = `steps` trailing steps (default 50) with eta 0."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if sampler == "ddpm":
        return schedule.timesteps(steps or schedule.num_steps), 1.0
    return schedule.timesteps(steps or 50), 0.0


@torch.no_grad()
def sample(
    model: nn.Module,
    schedule: NoiseSchedule,
    shape: tuple[int, int, int],
    generator: torch.Generator,
    sampler: str = "ddim",
    steps: int | None = None,
    known: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    resample: int = 0,
    callback: ProgressCallback | None = None,
    keep_every: int = 0,
) -> SampleResult:
    """Draw samples of `shape` = (B, K, D); optionally infill around known latents.

    known: (B, K, D) latents to keep where `mask` is True; mask: (K,) or (B, K) bool. As in
    the paper's Algorithm 1, the known region of each produced state is the known latents
    diffused to that state's own level with fresh noise, and at the end equals `known`
    exactly. resample: extra RePaint rounds per step (re-noise the merged state back to the
    step's level and denoise again), which help the filled region join its borders.
    keep_every: store the x0 estimate every that many steps (0: none) for visualisation.
    """
    device = next(model.parameters()).device
    if (known is None) != (mask is None):
        raise ValueError("known and mask must be given together")
    if resample < 0:
        raise ValueError(f"resample must be >= 0, got {resample}")
    timesteps, eta = sampler_plan(schedule, sampler, steps)
    if mask is not None:
        mask = mask.to(device).bool()
        mask = (mask if mask.ndim == 2 else mask.expand(shape[0], -1))[..., None]  # (B, K, 1)
        known = known.to(device)

    def merge(x: torch.Tensor, t: int) -> torch.Tensor:
        """Replace the known region by the known latents at level t (exact at t = 0)."""
        if mask is None:
            return x
        a = schedule.alpha_bars[t].double().item()
        noisy = a**0.5 * known + (1 - a) ** 0.5 * _randn(tuple(known.shape), generator, device) if t > 0 else known
        return torch.where(mask, noisy, x)

    x = merge(_randn(shape, generator, device), timesteps[0])
    result = SampleResult(latents=x)
    for index, t in enumerate(timesteps):
        s = timesteps[index + 1] if index + 1 < len(timesteps) else 0
        for round_ in range(resample + 1):
            x_next, x0 = reverse_step(model, schedule, x, t, s, eta, generator)
            x_next = merge(x_next, s)
            if round_ < resample:  # RePaint: diffuse s -> t again and redo the step
                ratio = (schedule.alpha_bars[t].double() / schedule.alpha_bars[s].double()).item()
                x = ratio**0.5 * x_next + (1 - ratio) ** 0.5 * _randn(tuple(x.shape), generator, device)
        x = x_next
        if keep_every and (index % keep_every == 0 or s == 0):
            result.intermediates.append((t, x0.cpu()))
        if callback is not None:
            callback(index + 1, len(timesteps), x0)
    result.latents = x
    return result


@torch.no_grad()
def sample_windowed(
    model: nn.Module,
    schedule: NoiseSchedule,
    length: int,
    window: int,
    overlap: int,
    batch: int,
    data_dims: int,
    generator: torch.Generator,
    callback: ProgressCallback | None = None,
    **sampler_options,
) -> torch.Tensor:
    """A very long sequence (B, length, D) from overlapping windows of `window` latents.

    The first window is sampled freely; each next window keeps its first `overlap` latents
    from the previous one and infills the rest, so the whole piece stays continuous.
    """
    if not 0 < overlap < window:
        raise ValueError(f"overlap must lie in 1..{window - 1}, got {overlap}")
    if length < window:
        raise ValueError(f"length {length} is shorter than the window {window}; use sample()")
    device = next(model.parameters()).device
    pieces = sample(model, schedule, (batch, window, data_dims), generator, **sampler_options).latents
    windows_total = 1 + -(-(length - window) // (window - overlap))
    done = 1
    if callback is not None:
        callback(done, windows_total, pieces)
    mask = torch.zeros(window, dtype=torch.bool)
    mask[:overlap] = True
    while pieces.shape[1] < length:
        known = torch.zeros(batch, window, data_dims, device=device)
        known[:, :overlap] = pieces[:, -overlap:]
        filled = sample(model, schedule, (batch, window, data_dims), generator, known=known, mask=mask,
                        **sampler_options).latents
        pieces = torch.cat([pieces, filled[:, overlap:]], dim=1)
        done += 1
        if callback is not None:
            callback(done, windows_total, filled)
    return pieces[:, :length]
