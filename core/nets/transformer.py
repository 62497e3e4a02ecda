"""The transformer trunk shared by the diffusion model and the TransformerMDN baseline.

Sequences have any length up to what the model was trained on; a batch of different
lengths is padded at the end and comes with a key-padding mask, so that padded positions
never reach real ones. A model trained with style labels adds a learnt embedding of the
label to every position; label 0 is "no style" (the unconditional model of classifier-free
guidance, Ho & Salimans 2022), labels 1.. are `TrunkConfig.style_labels` in order.

A model with `tune_positions` also sees where each latent stands in its tune, so that it can
learn how tunes open, where their phrases end and how they close: learnt embeddings of its
distance from the tune's first latent and from its last (in latents, POSITION_CLASSES - 1
standing for that many or more) and of its place in an 8-bar phrase (distance from the
start modulo PHRASE_LATENTS). Positions come as a (B, K, 2) long tensor of (from start,
from end); without one, each sequence is taken to be a whole tune (its real positions).

A model with `outline_conditioned` also reads each latent's outline (`core.music.outlines`: the
pitches of its chunk's first and last onset and its onset count, each possibly unknown), a learnt
embedding of each slot's token added like the positions, so that the diffusion model draws a
chunk that starts, ends and moves as a coarse line drawn before it says (`core.nets.outline`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.limits import check_choice
from core.music.outlines import OUTLINE_SLOTS, OUTLINE_TOKENS

ANY_STYLE = "any"  # the label a user gives for no style
UNCONDITIONAL = 0  # the style index of "no style"
POSITION_CLASSES = 33  # distances 0..31 latents from a tune's start or end, and 32: that far or further
PHRASE_LATENTS = 4  # latents in an 8-bar phrase


@dataclass(frozen=True)
class TrunkConfig:
    """Sizes shared by the diffusion model and the TransformerMDN."""

    data_dims: int = 42
    model_dims: int = 128
    layers: int = 6
    heads: int = 8
    transformer_mlp_dims: int = 2048
    mlp_dims: int = 2048  # width of the residual MLP blocks after the trunk
    res_blocks: int = 2
    dropout: float = 0.1
    styles: str = ""  # comma-separated style labels the model is conditioned on; "" = none
    tune_positions: bool = False  # sees each latent's distance from its tune's start and end (not in the paper)
    outline_conditioned: bool = False  # reads each latent's outline: first, last onset pitch, onsets (not in the paper)

    @property
    def style_labels(self) -> tuple[str, ...]:
        return tuple(label for label in self.styles.split(",") if label)

    def style_index(self, label: str | None) -> int:
        """The embedding index of `label`: 0 for None or "any" (unconditional), else 1 + its position."""
        if label is None or label == ANY_STYLE:
            return UNCONDITIONAL
        if not self.style_labels:
            raise ValueError(f"this model was trained without style labels: the style must be {ANY_STYLE!r}, "
                             f"got {label!r}")
        return 1 + self.style_labels.index(check_choice("Style", label, (*self.style_labels, ANY_STYLE)))


def whole_tune_positions(padding: torch.Tensor | None, batch: int, span: int, device: torch.device) -> torch.Tensor:
    """Positions of `batch` sequences that are whole tunes, padded at the end to `span` (padding:
    (B, K) bool or None) -> (B, span, 2) long (from start, from end), zero at padded places."""
    lengths = torch.full((batch,), span, device=device) if padding is None else span - padding.long().sum(dim=1)
    from_start = torch.arange(span, device=device)[None, :].expand(batch, span)  # (B, K)
    from_end = (lengths[:, None] - 1 - from_start).clamp(min=0)
    return torch.stack([from_start, from_end], dim=-1)


def span_positions(first: int, span: int, total: int, device: torch.device | None = None) -> torch.Tensor:
    """Positions of latents first..first+span-1 of a tune `total` latents long -> (span, 2) long
    (from start, from end; 0 past the tune's end)."""
    window = torch.arange(first, first + span, device=device)
    return torch.stack([window, (total - 1 - window).clamp(min=0)], dim=-1)


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
    """Dense input projection + sinusoidal positions (+ style embedding) + pre-LayerNorm encoder layers.

    (B, K, D) -> (B, K, model_dims). `causal` masks attention to earlier positions only.
    """

    def __init__(self, config: TrunkConfig, causal: bool):
        super().__init__()
        c = config
        self.model_dims = c.model_dims
        self.causal = causal
        self.tune_positions = c.tune_positions
        self.outline_conditioned = c.outline_conditioned
        self.input_projection = nn.Linear(c.data_dims, c.model_dims)
        layer = nn.TransformerEncoderLayer(c.model_dims, c.heads, c.transformer_mlp_dims, c.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        labels = c.style_labels
        self.style_embedding = nn.Embedding(1 + len(labels), c.model_dims) if labels else None
        if c.tune_positions:
            self.start_embedding = nn.Embedding(POSITION_CLASSES, c.model_dims)
            self.end_embedding = nn.Embedding(POSITION_CLASSES, c.model_dims)
            self.phrase_embedding = nn.Embedding(PHRASE_LATENTS, c.model_dims)
        if c.outline_conditioned:  # zero at first: a model fine-tuned from one without it starts as it was
            self.outline_embedding = nn.Embedding(OUTLINE_SLOTS * OUTLINE_TOKENS, c.model_dims)
            nn.init.zeros_(self.outline_embedding.weight)
            self.register_buffer("outline_offsets", torch.arange(OUTLINE_SLOTS) * OUTLINE_TOKENS, persistent=False)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None,
                style: torch.Tensor | None = None, positions: torch.Tensor | None = None,
                outlines: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, K, D); padding: (B, K) bool, True at padded positions (None = none);
        style: (B,) long style indices (None = unconditional); positions: (B, K, 2) long
        (from start, from end) in the tune, None = each sequence a whole tune (only read with
        `tune_positions`); outlines: (B, K, OUTLINE_SLOTS) long outline tokens, None = all unknown
        (only read with `outline_conditioned`)."""
        length = x.shape[1]
        h = self.input_projection(x) + sinusoidal_encoding(torch.arange(length, device=x.device),
                                                           self.model_dims)  # (B, K, C)
        if self.tune_positions:
            if positions is None:
                positions = whole_tune_positions(padding, x.shape[0], length, x.device)
            far = POSITION_CLASSES - 1
            h = (h + self.start_embedding(positions[..., 0].clamp(0, far))
                 + self.end_embedding(positions[..., 1].clamp(0, far))
                 + self.phrase_embedding(positions[..., 0] % PHRASE_LATENTS))
        if self.outline_conditioned:
            if outlines is None:
                outlines = torch.zeros(*x.shape[:2], OUTLINE_SLOTS, dtype=torch.long, device=x.device)  # all unknown
            h = h + self.outline_embedding(outlines + self.outline_offsets).sum(dim=-2)
        if self.style_embedding is not None:
            if style is None:
                style = torch.full((x.shape[0],), UNCONDITIONAL, dtype=torch.long, device=x.device)
            h = h + self.style_embedding(style)[:, None, :]
        elif style is not None and bool((style != UNCONDITIONAL).any()):
            raise ValueError("this model was trained without style labels; sample it with style 'any'")
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=x.device) if self.causal else None
        if padding is not None:
            # a float mask like the causal one (PyTorch wants both masks of one kind); real
            # queries never see padded keys, padded queries still see the real ones (no NaN rows)
            padding = torch.zeros(padding.shape, device=x.device).masked_fill(padding, float("-inf"))
        return self.layers(h, mask=mask, src_key_padding_mask=padding, is_causal=self.causal)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
