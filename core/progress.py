"""What long-running sampling reports to its caller after each step (samplers and the MDN alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class SamplerProgress:
    """What a progress callback receives after each step (or window, or MDN latent)."""

    done: int  # steps (or windows, or latents for the MDN) finished
    total: int
    x0: torch.Tensor | None  # (B, K, D) current clean estimate; None where there is none (MDN)


ProgressCallback = Callable[[SamplerProgress], None]
