"""The latent codec between the VAE's z space and the diffusion model's data space.

Only some VAE dimensions carry information; the others sit at the prior (posterior sigma
near 1). The codec keeps the dims whose mean posterior sigma over the training chunks is
below a threshold (the paper kept 42 of 512), and scales each kept dim linearly so that the
training latents span [-1, 1]. The inverse fills dropped dims with their training means.
The zero latent (a rest chunk) lies inside the scaled range by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

DEFAULT_SIGMA_THRESHOLD = 0.8


@dataclass(frozen=True)
class LatentCodec:
    active_dims: torch.Tensor  # (D,) int64 indices into the Z VAE dims
    low: torch.Tensor  # (D,) training minimum of each kept dim (at most 0)
    high: torch.Tensor  # (D,) training maximum of each kept dim (at least 0)
    fill: torch.Tensor  # (Z,) training mean of every dim, used for dropped dims
    mean_sigma: torch.Tensor  # (Z,) mean posterior sigma of every dim, for reports
    sigma_threshold: float

    @classmethod
    def fit(cls, mu: torch.Tensor, sigma: torch.Tensor, sigma_threshold: float = DEFAULT_SIGMA_THRESHOLD) -> "LatentCodec":
        """Fit on the posteriors of non-rest training chunks: mu, sigma (N, Z)."""
        if mu.ndim != 2 or mu.shape != sigma.shape or mu.shape[0] < 2:
            raise ValueError(f"mu and sigma must both be (N >= 2, Z), got {tuple(mu.shape)} and {tuple(sigma.shape)}")
        if not 0 < sigma_threshold <= 1:
            raise ValueError(f"sigma_threshold must lie in (0, 1], got {sigma_threshold}")
        mu, sigma = mu.double(), sigma.double()
        mean_sigma = sigma.mean(dim=0)
        active = torch.nonzero(mean_sigma < sigma_threshold).flatten()
        if active.numel() == 0:
            raise ValueError(
                f"no latent dimension has mean posterior sigma below {sigma_threshold} "
                f"(smallest is {mean_sigma.min():.3f}); the VAE has collapsed or is untrained"
            )
        kept = mu[:, active]
        low = kept.min(dim=0).values.clamp(max=0.0)
        high = kept.max(dim=0).values.clamp(min=0.0)
        return cls(
            active_dims=active.long(),
            low=low.float(),
            high=high.float(),
            fill=mu.mean(dim=0).float(),
            mean_sigma=mean_sigma.float(),
            sigma_threshold=float(sigma_threshold),
        )

    @property
    def data_dims(self) -> int:
        return int(self.active_dims.numel())

    @property
    def z_size(self) -> int:
        return int(self.fill.numel())

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        """VAE latents (..., Z) -> normalized kept dims (..., D), training range -> [-1, 1]."""
        kept = z[..., self.active_dims.to(z.device)]
        low, high = self.low.to(z), self.high.to(z)
        return 2.0 * (kept - low) / (high - low) - 1.0

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized latents (..., D) -> VAE latents (..., Z), dropped dims at their means."""
        low, high = self.low.to(x), self.high.to(x)
        kept = (x + 1.0) * 0.5 * (high - low) + low
        z = self.fill.to(x).expand(*x.shape[:-1], self.z_size).clone()
        z[..., self.active_dims.to(x.device)] = kept
        return z

    @property
    def rest_point(self) -> torch.Tensor:
        """(D,) the normalized image of the zero latent, i.e. of a rest chunk."""
        return self.transform(torch.zeros(self.z_size))

    def save(self, directory: str | Path, name: str = "codec") -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"active_dims": self.active_dims, "low": self.low, "high": self.high,
                   "fill": self.fill, "mean_sigma": self.mean_sigma}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / f"{name}.safetensors"))
        meta = {"sigma_threshold": self.sigma_threshold, "data_dims": self.data_dims, "z_size": self.z_size}
        (directory / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path, name: str = "codec") -> "LatentCodec":
        directory = Path(directory)
        meta = json.loads((directory / f"{name}.json").read_text())
        tensors = load_file(str(directory / f"{name}.safetensors"))
        codec = cls(sigma_threshold=float(meta["sigma_threshold"]), **tensors)
        if codec.data_dims != meta["data_dims"] or codec.z_size != meta["z_size"]:
            raise ValueError(f"{directory / name}.json does not match its tensors")
        return codec
