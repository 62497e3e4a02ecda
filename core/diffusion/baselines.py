"""The paper's non-diffusion ways to fill latents: spherical interpolation and the prior.

Both work in the VAE's z space (Z dims) and are the baselines the app and the evaluation lab
compare diffusion infilling with.
"""

from __future__ import annotations

import numpy as np
import torch

from core.nets.codec import LatentCodec


def slerp(a: torch.Tensor, b: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b: (B, Z), (B, Z), (F,) -> (B, F, Z).

    Where either end is the zero latent (a rest chunk) or the two are (anti)parallel the
    angle is undefined, so those rows fall back to straight-line interpolation.
    """
    t = fractions.to(a)[None, :, None]  # (1, F, 1)
    norms = a.norm(dim=-1) * b.norm(dim=-1)  # (B,)
    cosine = ((a * b).sum(-1) / norms.clamp(min=1e-12)).clamp(-1.0, 1.0)
    omega = torch.arccos(cosine)[:, None, None]  # (B, 1, 1)
    linear = (1 - t) * a[:, None] + t * b[:, None]
    sin_omega = torch.sin(omega)
    usable = (norms > 1e-12)[:, None, None] & (sin_omega.abs() > 1e-6)
    spherical = (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / torch.where(
        usable, sin_omega, torch.ones_like(sin_omega))
    return torch.where(usable, spherical, linear)


def interpolate_gaps(z: torch.Tensor, known: np.ndarray) -> torch.Tensor:
    """Fill every run of unknown latents by slerp between its known neighbours: z (K, Z) -> (K, Z).

    A run at either end has one neighbour only and repeats it. At least one latent must be known.
    """
    if not known.any():
        raise ValueError("interpolation needs at least one known latent")
    filled = z.clone()
    k = len(known)
    start = 0
    while start < k:
        if known[start]:
            start += 1
            continue
        stop = start
        while stop < k and not known[stop]:
            stop += 1
        left, right = start - 1, stop  # neighbours; -1 or k when missing
        if left < 0:
            filled[start:stop] = z[right]
        elif right >= k:
            filled[start:stop] = z[left]
        else:
            fractions = torch.arange(1, stop - start + 1, dtype=z.dtype) / (stop - start + 1)
            filled[start:stop] = slerp(z[left][None], z[right][None], fractions)[0]
        start = stop
    return filled


def prior_latents(codec: LatentCodec, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """z ~ N(0, I) in the VAE's space, mapped to normalized latents: shape (..., any) -> (..., D)."""
    return codec.transform(torch.randn(*shape[:-1], codec.z_size, generator=generator))
