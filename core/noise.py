"""Random draws for batched sampling where each row can have its own generator.

A batch of melodies made from seeds [s1, s2, ...] draws each row's noise from that row's
own generator, so a melody does not depend on which other seeds share its batch: the
pipeline's batched call gives every seed exactly what a call with that seed alone gives.
Functions here accept either one `torch.Generator` (one stream for the whole batch) or a
sequence of them, one per row.
"""

from __future__ import annotations

from typing import Sequence

import torch

Generators = torch.Generator | Sequence[torch.Generator]


def seeded_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per seed."""
    return [torch.Generator().manual_seed(int(seed)) for seed in seeds]


def randn(shape: tuple[int, ...], generator: Generators, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal noise of `shape` = (B, ...) on `device`, row b from generator[b] when a sequence."""
    if isinstance(generator, torch.Generator):
        return torch.randn(shape, generator=generator, device=generator.device).to(device)
    if len(generator) != shape[0]:
        raise ValueError(f"got {len(generator)} generators for a batch of {shape[0]} rows")
    rows = [torch.randn(shape[1:], generator=g, device=g.device) for g in generator]
    return torch.stack(rows).to(device)  # (B, ...)


def multinomial(probabilities: torch.Tensor, generator: Generators) -> torch.Tensor:
    """One category per row of `probabilities` (B, M) -> (B,) int64, row b from generator[b]."""
    probabilities = probabilities.cpu()
    if isinstance(generator, torch.Generator):
        return torch.multinomial(probabilities, 1, generator=generator)[:, 0]
    if len(generator) != probabilities.shape[0]:
        raise ValueError(f"got {len(generator)} generators for a batch of {probabilities.shape[0]} rows")
    return torch.cat([torch.multinomial(row[None], 1, generator=g)[:, 0] for row, g in zip(probabilities, generator)])
