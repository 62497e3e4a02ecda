"""The transformer trunk shared by the diffusion model and the TransformerMDN baseline."""

from __future__ import annotations

import torch
from torch import nn


def sinusoidal_encoding(positions: torch.Tensor, channels: int) -> torch.Tensor:
    """Transformer timing signal: (...,) positions -> (..., channels).

    Frequencies 10^(-4 i / (channels/2 - 1)) for i = 0..channels/2 - 1; the first half of
    the channels holds the sines, the second half the cosines.
    """
    half = channels // 2
    exponents = torch.arange(half, device=positions.device, dtype=torch.float32) / max(half - 1, 1)
    frequencies = torch.pow(10.0, -4.0 * exponents)  # (half,)
    angles = positions.float()[..., None] * frequencies  # (..., half)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class TransformerTrunk(nn.Module):
    """Dense input projection + sinusoidal positions + pre-LayerNorm encoder layers.

    (B, K, D) -> (B, K, model_dims). `causal` masks attention to earlier positions only.
    """

    def __init__(self, data_dims: int, model_dims: int, layers: int, heads: int, mlp_dims: int,
                 dropout: float, causal: bool):
        super().__init__()
        self.model_dims = model_dims
        self.causal = causal
        self.input_projection = nn.Linear(data_dims, model_dims)
        layer = nn.TransformerEncoderLayer(model_dims, heads, mlp_dims, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        positions = sinusoidal_encoding(torch.arange(length, device=x.device), self.model_dims)  # (K, C)
        h = self.input_projection(x) + positions  # (B, K, C)
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=x.device) if self.causal else None
        return self.layers(h, mask=mask, is_causal=self.causal)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
