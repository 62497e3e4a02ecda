"""The transformer trunk shared by the diffusion model and the TransformerMDN baseline."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TrunkConfig:
    """Sizes shared by the diffusion model and the TransformerMDN (DESIGN.md section 2)."""

    data_dims: int = 42
    model_dims: int = 128
    layers: int = 6
    heads: int = 8
    transformer_mlp_dims: int = 2048
    mlp_dims: int = 2048  # width of the residual MLP blocks after the trunk
    res_blocks: int = 2
    dropout: float = 0.1


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

    def __init__(self, config: TrunkConfig, causal: bool):
        super().__init__()
        c = config
        self.model_dims = c.model_dims
        self.causal = causal
        self.input_projection = nn.Linear(c.data_dims, c.model_dims)
        layer = nn.TransformerEncoderLayer(c.model_dims, c.heads, c.transformer_mlp_dims, c.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        positions = sinusoidal_encoding(torch.arange(length, device=x.device), self.model_dims)  # (K, C)
        h = self.input_projection(x) + positions  # (B, K, C)
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=x.device) if self.causal else None
        return self.layers(h, mask=mask, is_causal=self.causal)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
