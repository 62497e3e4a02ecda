"""The latent codec between the VAE's z space and the diffusion model's data space.

Only some VAE dimensions carry information; the others sit at the prior (posterior sigma
near 1). The codec keeps D directions of z and scales the coordinate along each linearly so
that the training latents span [-1, 1]; the inverse puts z back together from those
coordinates and the training mean, so whatever lies outside the kept directions comes back
as its mean. The directions are either the dims whose mean posterior sigma over the training
chunks is below a threshold (the paper kept 42 of 512), or, with `components`, the leading
principal components of the training means among those dims: a VAE that uses all its dims
(free bits) spreads a few dozen directions of real variation over them, and the diffusion
model then learns those directions instead of every dim. The zero latent (a rest chunk) lies
inside the scaled range by construction.
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
    basis: torch.Tensor  # (D, Z) orthonormal rows: the kept directions of z
    center: torch.Tensor  # (Z,) training mean of every dim
    low: torch.Tensor  # (D,) training minimum of each coordinate (at most the rest chunk's)
    high: torch.Tensor  # (D,) training maximum of each coordinate (at least the rest chunk's)
    mean_sigma: torch.Tensor  # (Z,) mean posterior sigma of every dim, for reports
    sigma_threshold: float

    @classmethod
    def fit(cls, mu: torch.Tensor, sigma: torch.Tensor, sigma_threshold: float = DEFAULT_SIGMA_THRESHOLD,
            components: int | None = None) -> "LatentCodec":
        """Fit on the posteriors of non-rest training chunks: mu, sigma (N, Z). components: keep that
        many principal components of the informative dims' means instead of the dims themselves."""
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
        center = mu.mean(dim=0)
        basis = torch.eye(mu.shape[1], dtype=mu.dtype)[active]  # (A, Z)
        if components is not None:
            if not 1 <= components <= active.numel():
                raise ValueError(f"components must lie in 1..{active.numel()} (the informative dims), got {components}")
            _, _, directions = torch.linalg.svd((mu - center)[:, active], full_matrices=False)  # (A, A)
            basis = directions[:components] @ basis  # (D, Z)
        coordinates = (mu - center) @ basis.T  # (N, D)
        rest = -center @ basis.T  # (D,) where the zero latent lands
        return cls(
            basis=basis.float(),
            center=center.float(),
            low=torch.minimum(coordinates.min(dim=0).values, rest).float(),
            high=torch.maximum(coordinates.max(dim=0).values, rest).float(),
            mean_sigma=mean_sigma.float(),
            sigma_threshold=float(sigma_threshold),
        )

    @property
    def data_dims(self) -> int:
        return int(self.basis.shape[0])

    @property
    def z_size(self) -> int:
        return int(self.center.numel())

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        """VAE latents (..., Z) -> normalized coordinates (..., D), training range -> [-1, 1]."""
        coordinates = (z - self.center.to(z)) @ self.basis.to(z).T
        low, high = self.low.to(z), self.high.to(z)
        return 2.0 * (coordinates - low) / (high - low) - 1.0

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized coordinates (..., D) -> VAE latents (..., Z); outside the kept directions, the mean."""
        low, high = self.low.to(x), self.high.to(x)
        coordinates = (x + 1.0) * 0.5 * (high - low) + low
        return self.center.to(x) + coordinates @ self.basis.to(x)

    @property
    def rest_point(self) -> torch.Tensor:
        """(D,) the normalized image of the zero latent, i.e. of a rest chunk."""
        return self.transform(torch.zeros(self.z_size))

    def save(self, directory: str | Path, name: str = "codec") -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"basis": self.basis, "center": self.center, "low": self.low, "high": self.high,
                   "mean_sigma": self.mean_sigma}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / f"{name}.safetensors"))
        meta = {"sigma_threshold": self.sigma_threshold, "data_dims": self.data_dims, "z_size": self.z_size}
        (directory / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path, name: str = "codec") -> "LatentCodec":
        """The codec saved in `directory`; a codec written before directions (kept dims `active_dims`,
        ranges of the raw dims, means `fill`) loads as the same map."""
        directory = Path(directory)
        meta = json.loads((directory / f"{name}.json").read_text())
        tensors = load_file(str(directory / f"{name}.safetensors"))
        if "active_dims" in tensors:
            active, center = tensors.pop("active_dims"), tensors.pop("fill")
            tensors.update(basis=torch.eye(center.numel())[active], center=center,
                           low=tensors["low"] - center[active], high=tensors["high"] - center[active])
        codec = cls(sigma_threshold=float(meta["sigma_threshold"]), **tensors)
        if codec.data_dims != meta["data_dims"] or codec.z_size != meta["z_size"]:
            raise ValueError(f"{directory / name}.json does not match its tensors")
        return codec
