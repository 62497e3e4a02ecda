"""Reverse diffusion samplers, one function each, and the wrappers built on them.

Samplers (k-diffusion style: one function per method, all with the same signature):
- `sample_ddpm`: ancestral DDPM (Ho et al. 2020), the paper's 1000-step sampler.
- `sample_ddim`: deterministic DDIM (Song et al. 2021), 50 steps by default.
- `sample_dpmpp_2m`: DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095), 20 steps.
Wrappers: `infill` keeps known latents (the paper's Algorithm 1, optionally with RePaint
resampling), `sample_tied` draws tied latents (a form's restated phrases, `core.music.forms`) as one
variable each and echoing latents from the noise of the latents they echo, and `sample_windowed`
builds sequences longer than a window from overlapping windows. Each takes x_T (`initial_noise`)
and draws everything else from the caller's generator: one `torch.Generator`, or one per batch row
(`core.noise`), so that a row does not depend on which other rows share its batch.

Notation: a_t = alpha_bar_t of the schedule (a_0 = 1, clean); alpha_t = sqrt(a_t),
sigma_t = sqrt(1 - a_t), lambda_t = log(alpha_t / sigma_t) (half log-SNR). The network
eps_theta(x_t, alpha_t) predicts the noise in x_t = alpha_t x_0 + sigma_t eps (Ho eq. 4).
Steps follow the schedule's trailing spacing, t_1 = N > t_2 > ... > t_M, and the last step
goes to t = 0. Every x_0 estimate is clipped to [-1, 1], the range of the normalized data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from core.diffusion.schedule import NoiseSchedule
from core.noise import Generators, randn
from core.progress import ProgressCallback, SamplerProgress

DDIM_STEPS = 50  # DDIM needs about 50-100 steps to match 1000-step DDPM
DPMPP_STEPS = 20  # DPM-Solver++ about 15-25


@dataclass
class SampleResult:
    latents: torch.Tensor  # (B, K, D) the final sample, in the codec's normalized space
    intermediates: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # (t, (B, K, D) x0 estimate)


class _Unconditional:
    """Nothing known: states and noise pass through unchanged, no resampling."""

    resample = 0

    def merge(self, x: torch.Tensor, t: int) -> torch.Tensor:
        return x

    def share(self, noise: torch.Tensor) -> torch.Tensor:
        return noise


_NOTHING_KNOWN = _Unconditional()


@dataclass(frozen=True)
class _KnownRegion:
    """The latents `infill` keeps; the samplers call `merge` on every state they produce."""

    schedule: NoiseSchedule
    known: torch.Tensor  # (B, K, D)
    mask: torch.Tensor  # (B, K, 1) bool, True = keep
    generator: Generators
    resample: int

    def merge(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """Algorithm 1: x_t = m * q(known at level t) + (1 - m) * x_t, with fresh noise; exact at t = 0."""
        if t == 0:
            return torch.where(self.mask, self.known, x)
        a = _a(self.schedule, t)
        noisy = a**0.5 * self.known + (1 - a) ** 0.5 * initial_noise(tuple(self.known.shape), self.generator,
                                                                      self.known.device)  # Ho eq. 4
        return torch.where(self.mask, noisy, x)

    def share(self, noise: torch.Tensor) -> torch.Tensor:
        return noise

    def renoise(self, x_s: torch.Tensor, s: int, t: int) -> torch.Tensor:
        """RePaint (Lugmayr et al. 2022): diffuse x_s back to level t, x_t ~ q(x_t | x_s) =
        N(sqrt(a_t / a_s) x_s, (1 - a_t / a_s) I), so the step can be taken again."""
        ratio = _a(self.schedule, t) / _a(self.schedule, s)
        return ratio**0.5 * x_s + (1 - ratio) ** 0.5 * initial_noise(tuple(x_s.shape), self.generator, x_s.device)


def tie_mean(values: torch.Tensor, firsts: torch.Tensor) -> torch.Tensor:
    """(B, K, D) values, (B, K) long first latent of each latent's tie group -> (B, K, D): every
    latent holds the mean of its group's values."""
    index = firsts[..., None].expand_as(values)
    sums = torch.zeros_like(values).scatter_add_(1, index, values)
    counts = torch.zeros(firsts.shape, dtype=values.dtype, device=values.device)
    counts.scatter_add_(1, firsts, torch.ones_like(counts))
    return torch.gather(sums / counts.clamp(min=1)[..., None], 1, index)


class _TiedDenoiser(nn.Module):
    """eps_theta averaged over each tie group, so that tied latents take every step together; the
    network still sees each of them in its own place."""

    def __init__(self, model: nn.Module, firsts: torch.Tensor):
        super().__init__()
        self.model, self.firsts = model, firsts  # firsts: (B, K) long

    def forward(self, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return tie_mean(self.model(x, alpha), self.firsts)


@dataclass(frozen=True)
class _TiedLatents:
    """The tie groups and noise sources `sample_tied` keeps: `merge` gives every latent its group's
    first state, `share` every latent its noise source's noise (x_T and DDPM's fresh noise)."""

    index: torch.Tensor  # (B, K, D) long: the first latent of each latent's group
    noise_index: torch.Tensor  # (B, K, D) long: the latent whose noise each latent takes
    resample = 0

    def merge(self, x: torch.Tensor, t: int) -> torch.Tensor:
        return torch.gather(x, 1, self.index)

    def share(self, noise: torch.Tensor) -> torch.Tensor:
        return torch.gather(noise, 1, self.noise_index)


_Region = _KnownRegion | _TiedLatents  # what the samplers merge into every state they produce


class Sampler(Protocol):
    """What every sampler function is: (model, schedule, x_T (B, K, D), generator, steps, ...) -> SampleResult."""

    def __call__(
        self, model: nn.Module, schedule: NoiseSchedule, noise: torch.Tensor, generator: Generators,
        steps: int | None = None, callback: ProgressCallback | None = None, keep_every: int = 0, *,
        _known: _Region | None = None,
    ) -> SampleResult: ...


def initial_noise(shape: tuple[int, ...], generator: Generators, device: torch.device | str) -> torch.Tensor:
    """x_T ~ N(0, I) of `shape` = (B, K, D), drawn from `generator` (row b from generator[b] when a
    sequence) on the generator's device and moved to `device`."""
    return randn(shape, generator, device)


def _a(schedule: NoiseSchedule, t: int) -> float:
    return schedule.alpha_bars[t].double().item()


def _predict_x0(model: nn.Module, x: torch.Tensor, a_t: float) -> torch.Tensor:
    """The clipped clean estimate x0_hat = clip((x_t - sigma_t eps_theta) / alpha_t, -1, 1) (Ho eq. 15)."""
    eps = model(x, torch.full((x.shape[0],), a_t**0.5, device=x.device))
    return ((x - (1 - a_t) ** 0.5 * eps) / a_t**0.5).clamp(-1.0, 1.0)


def _step_pairs(timesteps: list[int]) -> list[tuple[int, int]]:
    """(t, s) for every step: from t to the next visited step s, the last one to s = 0."""
    return list(zip(timesteps, timesteps[1:] + [0]))


def _check_keep_every(keep_every: int) -> None:
    if keep_every < 0:
        raise ValueError(f"keep_every must be >= 0 (0 keeps no intermediates), got {keep_every}")


def _report(result: SampleResult, callback: ProgressCallback | None, keep_every: int, index: int, total: int,
            t: int, x0: torch.Tensor) -> None:
    """After step `index` (0-based) of `total` from level t: keep x0 every `keep_every` steps and at the end."""
    if keep_every and (index % keep_every == 0 or index == total - 1):
        result.intermediates.append((t, x0.cpu()))
    if callback is not None:
        callback(SamplerProgress(index + 1, total, x0))


@torch.no_grad()
def _sample_generalized(
    model: nn.Module, schedule: NoiseSchedule, noise: torch.Tensor, generator: Generators,
    timesteps: list[int], eta: float, callback: ProgressCallback | None, keep_every: int,
    known: _Region | None,
) -> SampleResult:
    """The generalized DDIM update (Song et al. 2021, eq. 12) from each t to the next s < t.

    eta = 1 with s = t - 1 is the ancestral DDPM step (its sigma is the posterior standard
    deviation of Ho eq. 7); eta = 0 is deterministic DDIM.
    """
    _check_keep_every(keep_every)
    region = _NOTHING_KNOWN if known is None else known
    x = region.merge(noise, timesteps[0])
    result = SampleResult(latents=x)
    for index, (t, s) in enumerate(_step_pairs(timesteps)):
        a_t, a_s = _a(schedule, t), _a(schedule, s)
        for round_ in range(region.resample + 1):
            x0 = _predict_x0(model, x, a_t)  # Song eq. 12, "predicted x0" (eq. 9)
            eps = (x - a_t**0.5 * x0) / (1 - a_t) ** 0.5  # the eps consistent with the clipped x0
            sigma = eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)) ** 0.5  # Song eq. 16
            x_s = a_s**0.5 * x0 + max(1 - a_s - sigma**2, 0.0) ** 0.5 * eps  # eq. 12, "direction pointing to x_t"
            if sigma > 0:
                x_s = x_s + sigma * region.share(initial_noise(tuple(x.shape), generator, x.device))  # eq. 12
            x_s = region.merge(x_s, s)
            if round_ < region.resample:
                x = region.renoise(x_s, s, t)
        x = x_s
        _report(result, callback, keep_every, index, len(timesteps), t, x0)
    result.latents = x
    return result


def sample_ddpm(
    model: nn.Module, schedule: NoiseSchedule, noise: torch.Tensor, generator: Generators,
    steps: int | None = None, callback: ProgressCallback | None = None, keep_every: int = 0, *,
    _known: _Region | None = None,
) -> SampleResult:
    """Ancestral DDPM (Ho et al. 2020, Algorithm 2) from x_T = noise (B, K, D).

    steps: None = every step of the schedule (the paper's sampler); fewer take ancestral
    steps between trailing timesteps. keep_every > 0 keeps (t, x0 estimate) every that many
    steps and at the last one in `intermediates`.
    """
    steps = schedule.num_steps if steps is None else steps
    return _sample_generalized(model, schedule, noise, generator, schedule.timesteps(steps), 1.0, callback,
                               keep_every, _known)


def sample_ddpm_from(model: nn.Module, schedule: NoiseSchedule, x0: torch.Tensor, level: int,
                     generator: Generators) -> torch.Tensor:
    """(B, K, D) clean latents noised to step `level` (1..N) of the schedule, then drawn back to 0 by
    ancestral DDPM (SDEdit, Meng et al. 2022): what the model restores of them from that level."""
    if not 1 <= level <= schedule.num_steps:
        raise ValueError(f"level must lie in 1..{schedule.num_steps}, got {level}")
    a = _a(schedule, level)
    noisy = a**0.5 * x0 + (1 - a) ** 0.5 * initial_noise(tuple(x0.shape), generator, x0.device)
    return _sample_generalized(model, schedule, noisy, generator, list(range(level, 0, -1)), 1.0, None, 0,
                               None).latents


def sample_ddim(
    model: nn.Module, schedule: NoiseSchedule, noise: torch.Tensor, generator: Generators,
    steps: int | None = DDIM_STEPS, callback: ProgressCallback | None = None, keep_every: int = 0, *,
    _known: _Region | None = None,
) -> SampleResult:
    """Deterministic DDIM (Song et al. 2021, eta = 0) over `steps` trailing timesteps from x_T = noise."""
    steps = DDIM_STEPS if steps is None else steps
    return _sample_generalized(model, schedule, noise, generator, schedule.timesteps(steps), 0.0, callback,
                               keep_every, _known)


@torch.no_grad()
def sample_dpmpp_2m(
    model: nn.Module, schedule: NoiseSchedule, noise: torch.Tensor, generator: Generators,
    steps: int | None = DPMPP_STEPS, callback: ProgressCallback | None = None, keep_every: int = 0, *,
    _known: _Region | None = None,
) -> SampleResult:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) over `steps` trailing timesteps from x_T = noise.

    A deterministic multistep solver of the diffusion ODE in data prediction form: each step
    reuses the previous step's x0 estimate for a second-order correction, so it costs one
    network call. The first step is first order; the last one returns the x0 estimate
    (first order to the clean level). Infilling merges the known region into every state
    before the network sees it, so each x0 estimate (and the history the next step uses) is
    the estimate of the state the solver actually holds. With resampling, a re-noised state
    lies off the solved trajectory, so its repeated step is first order; the x0 of the last
    round becomes the history.
    """
    _check_keep_every(keep_every)
    steps = DPMPP_STEPS if steps is None else steps
    timesteps = schedule.timesteps(steps)
    region = _NOTHING_KNOWN if _known is None else _known
    x = region.merge(noise, timesteps[0])
    result = SampleResult(latents=x)
    x0_prev, h_prev = None, 0.0
    for index, (t, s) in enumerate(_step_pairs(timesteps)):
        a_t, a_s = _a(schedule, t), _a(schedule, s)
        alpha_t, sigma_t = a_t**0.5, (1 - a_t) ** 0.5
        alpha_s, sigma_s = a_s**0.5, (1 - a_s) ** 0.5
        h = math.log(alpha_s / sigma_s) - math.log(alpha_t / sigma_t) if s > 0 else math.inf  # h = lambda_s - lambda_t
        for round_ in range(region.resample + 1):
            x0 = _predict_x0(model, x, a_t)  # data prediction x_theta(x_t, t) = (x_t - sigma_t eps) / alpha_t
            if s == 0:
                x_s = x0  # last step, first order: sigma_0 = 0, so x_0 = x_theta(x_t, t)
            else:
                if x0_prev is None or round_ > 0:
                    d = x0  # Alg. 2, first step: DPM-Solver++(1), which is DDIM
                else:
                    r = h_prev / h  # Alg. 2: r_i = h_{i-1} / h_i
                    d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_prev  # Alg. 2: D_i
                x_s = sigma_s / sigma_t * x - alpha_s * math.expm1(-h) * d  # Alg. 2: x_{t_i}
            x_s = region.merge(x_s, s)
            if round_ < region.resample:
                x = region.renoise(x_s, s, t)
        x0_prev, h_prev = x0, h
        x = x_s
        _report(result, callback, keep_every, index, len(timesteps), t, x0)
    result.latents = x
    return result


SAMPLERS: dict[str, Sampler] = {"ddpm": sample_ddpm, "ddim": sample_ddim, "dpmpp_2m": sample_dpmpp_2m}
SAMPLER_NAMES = (*SAMPLERS, "fast")
FAST_SAMPLER = "dpmpp_2m"  # what "fast" means: eval_lab.benchmark measures each fast sampler's quality gap


def _resolve(name: str) -> str:
    if name == "fast":
        return FAST_SAMPLER
    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLER_NAMES)}, got {name!r}")
    return name


def get_sampler(name: str) -> Sampler:
    """The sampler function called `name`: one of SAMPLERS or "fast" (= FAST_SAMPLER)."""
    return SAMPLERS[_resolve(name)]


def default_steps(name: str, schedule: NoiseSchedule) -> int:
    """The number of steps sampler `name` takes when `steps` is None."""
    return {"ddpm": schedule.num_steps, "ddim": DDIM_STEPS, "dpmpp_2m": DPMPP_STEPS}[_resolve(name)]


def infill(
    sampler: Sampler, model: nn.Module, schedule: NoiseSchedule, noise: torch.Tensor, known: torch.Tensor,
    mask: torch.Tensor, generator: Generators, steps: int | None = None, resample: int = 0,
    callback: ProgressCallback | None = None, keep_every: int = 0,
) -> SampleResult:
    """Sample around known latents (the paper's Algorithm 1) with any sampler.

    noise: (B, K, D) x_T; known: (B, K, D) latents to keep where `mask` ((K,) or (B, K) bool,
    True = keep) is set. Every state the sampler produces, x_T included, gets the known
    latents diffused to that state's own level with fresh noise in the kept region, before
    the network sees it; the result equals `known` exactly there. resample: extra RePaint
    rounds per step (re-noise the merged state back to the step's level and take the step
    again), which help the filled region join its borders.
    """
    if known.shape != noise.shape:
        raise ValueError(f"known must have the shape of noise {tuple(noise.shape)}, got {tuple(known.shape)}")
    batch, length = noise.shape[:2]
    if tuple(mask.shape) not in ((length,), (batch, length)):
        raise ValueError(f"mask must have shape ({length},) or ({batch}, {length}), got {tuple(mask.shape)}")
    if resample < 0:
        raise ValueError(f"resample must be >= 0, got {resample}")
    mask = mask.to(noise.device).bool().expand(batch, length)[..., None]  # (B, K, 1)
    region = _KnownRegion(schedule, known.to(noise), mask, generator, resample)
    return sampler(model, schedule, noise, generator, steps, callback, keep_every, _known=region)


def sample_tied(
    sampler: Sampler, model: nn.Module, schedule: NoiseSchedule, noise: torch.Tensor, firsts: torch.Tensor,
    generator: Generators, steps: int | None = None, callback: ProgressCallback | None = None, keep_every: int = 0,
    sources: torch.Tensor | None = None,
) -> SampleResult:
    """Sample with tied latents: firsts ((K,) or (B, K) long, `core.music.forms.representatives`) names
    each latent's group by its first latent. A group is one variable through the whole denoising
    (MultiDiffusion-style): its latents start from one x_T, take the mean of their noise
    predictions at every step, so the phrase is drawn to fit every place it stands, and end equal.
    sources ((K,) or (B, K) long, `core.music.forms.noise_sources`; None = each group's own) names
    the latent whose noise each latent takes, x_T and every fresh draw: an echoing latent denoised
    from its source's noise in its own place comes out a variation of it.
    """
    batch, length = noise.shape[:2]
    places = torch.arange(length, device=noise.device)
    indices = []
    for name, index in (("firsts", firsts), ("sources", firsts if sources is None else sources)):
        if tuple(index.shape) not in ((length,), (batch, length)):
            raise ValueError(f"{name} must have shape ({length},) or ({batch}, {length}), got {tuple(index.shape)}")
        index = index.to(noise.device).long().expand(batch, length)
        if bool((index > places).any()):
            raise ValueError(f"{name}: a latent's group or noise source must be at or before it")
        indices.append(index[..., None].expand_as(noise))
    region = _TiedLatents(*indices)
    return sampler(_TiedDenoiser(model, indices[0][..., 0]), schedule, region.share(noise), generator, steps,
                   callback, keep_every, _known=region)


@torch.no_grad()
def sample_windowed(
    sampler: Sampler, model: nn.Module, schedule: NoiseSchedule, length: int, window: int, overlap: int,
    batch: int, data_dims: int, generator: Generators, steps: int | None = None,
    callback: ProgressCallback | None = None,
) -> torch.Tensor:
    """A very long sequence (B, length, D) from overlapping windows of `window` latents.

    The first window is sampled freely; each next window keeps its first `overlap` latents
    from the previous one and infills the rest, so the whole piece stays continuous. A model
    that can be told where a window stands in the tune (`placed(first, total)`, as
    `GuidedDenoiser`) is, so that only the last window ends the piece. The callback hears once
    per window, with the sequence so far (B, <= length, D) as x0.
    """
    if not 0 < overlap < window:
        raise ValueError(f"overlap must lie in 1..{window - 1}, got {overlap}")
    if length < window:
        raise ValueError(f"length {length} is shorter than the window {window}; sample it in one piece")
    device = next(model.parameters()).device
    shape = (batch, window, data_dims)
    at = (lambda first: model.placed(first, length)) if hasattr(model, "placed") else (lambda first: model)
    pieces = sampler(at(0), schedule, initial_noise(shape, generator, device), generator, steps).latents
    windows_total = 1 + -(-(length - window) // (window - overlap))
    if callback is not None:
        callback(SamplerProgress(1, windows_total, pieces))
    mask = torch.zeros(window, dtype=torch.bool)
    mask[:overlap] = True
    for done in range(2, windows_total + 1):
        known = torch.zeros(shape, device=device)
        known[:, :overlap] = pieces[:, -overlap:]
        first = pieces.shape[1] - overlap  # where this window starts in the piece
        filled = infill(sampler, at(first), schedule, initial_noise(shape, generator, device), known, mask, generator,
                        steps).latents
        pieces = torch.cat([pieces, filled[:, overlap:]], dim=1)  # (B, so far, D)
        if callback is not None:
            callback(SamplerProgress(done, windows_total, pieces[:, :length]))
    return pieces[:, :length]
