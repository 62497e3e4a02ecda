"""The diffusion noise schedule: an immutable table of precomputed tensors.

Steps are numbered t = 1..N as in Ho et al. (2020); tensors are indexed by t directly, with
index 0 holding the clean state (alpha_bar_0 = 1). Maths in float64, stored float32.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

SCHEDULE_NAME = "schedule"


@dataclass(frozen=True)
class NoiseSchedule:
    betas: torch.Tensor  # (N + 1,) beta_t, betas[0] = 0
    alpha_bars: torch.Tensor  # (N + 1,) alpha_bar_t = prod_{s <= t} (1 - beta_s), alpha_bars[0] = 1

    @classmethod
    def linear(cls, beta_start: float = 1e-6, beta_end: float = 0.01, num_steps: int = 1000) -> "NoiseSchedule":
        """The paper's schedule: betas evenly spaced from `beta_start` to `beta_end`."""
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
        betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])
        alpha_bars = torch.cumprod(1.0 - betas, dim=0)  # eq. (4): alpha_bar_t = prod (1 - beta_s)
        return cls(betas=betas.float(), alpha_bars=alpha_bars.float())

    def save(self, directory: str | Path) -> None:
        """Write `schedule.safetensors` (betas, alpha_bars) and `schedule.json` into a model directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"betas": self.betas.contiguous(), "alpha_bars": self.alpha_bars.contiguous()},
                  str(directory / f"{SCHEDULE_NAME}.safetensors"))
        config = {"num_steps": self.num_steps, "beta_first": float(self.betas[1]), "beta_last": float(self.betas[-1])}
        (directory / f"{SCHEDULE_NAME}.json").write_text(json.dumps({"config": config}, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> "NoiseSchedule":
        """The schedule stored in a model directory, exactly as saved (never rebuilt from defaults)."""
        path = Path(directory) / f"{SCHEDULE_NAME}.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"{Path(directory)} has no noise schedule ({path.name} is missing)")
        tensors = load_file(str(path))
        schedule = cls(betas=tensors["betas"], alpha_bars=tensors["alpha_bars"])
        if schedule.betas.shape != schedule.alpha_bars.shape or float(schedule.alpha_bars[0]) != 1.0:
            raise ValueError(f"{path} is not a noise schedule: betas {tuple(schedule.betas.shape)}, "
                             f"alpha_bars {tuple(schedule.alpha_bars.shape)}, alpha_bars[0] must be 1")
        return schedule

    @property
    def num_steps(self) -> int:
        return int(self.betas.numel()) - 1

    def q_sample(self, x0: torch.Tensor, alpha_bar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Eq. (4): x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps.

        x0, noise: (B, K, D); alpha_bar: (B,) noise levels (any value in (0, 1]).
        """
        a = alpha_bar.to(x0)[:, None, None]
        return a.sqrt() * x0 + (1.0 - a).sqrt() * noise

    def sample_training_levels(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """WaveGrad-style continuous levels: t ~ U{1..N}, then alpha_bar ~ U(alpha_bar_t, alpha_bar_{t-1}).

        Returns (batch,) alpha_bar values on the generator's device (the CPU without one).
        """
        device = generator.device if generator is not None else torch.device("cpu")
        t = torch.randint(1, self.num_steps + 1, (batch,), generator=generator, device=device)
        alpha_bars = self.alpha_bars.to(device).double()
        low, high = alpha_bars[t], alpha_bars[t - 1]
        u = torch.rand(batch, generator=generator, dtype=torch.float64, device=device)
        return (low + u * (high - low)).float()

    def timesteps(self, num_steps: int) -> list[int]:
        """Trailing spacing (Lin et al. 2024): `num_steps` values from N down to N / num_steps.

        The first step always starts at t = N, the noisiest level the model was trained on.
        """
        if not 1 <= num_steps <= self.num_steps:
            raise ValueError(f"steps must lie in 1..{self.num_steps}, got {num_steps}")
        ratio = self.num_steps / num_steps
        return [round(self.num_steps - i * ratio) for i in range(num_steps)]
