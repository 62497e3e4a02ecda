"""The encoded corpus: every melody track as its sequence of normalized 2-bar latents.

`train.encode` writes it once per (VAE, codec) pair; the sequence trainers and the
evaluation read it. Like the melody cache it is one `.npz` of plain arrays, loaded with
`allow_pickle=False`:
- `latents` (N, D) float32: the codec's normalized latents of every chunk, tracks
  concatenated in cache order (rest chunks are the image of the zero latent);
- `outlines` (N, OUTLINE_SLOTS) int16: each chunk's outline (`core.music.outlines`: its first and
  last onset pitch and onset count), which outline-conditioned sequence models read and the outline
  model learns;
- `track_offsets` (K + 1,) int64 into `latents`; `track_split` (K,) int8 (0 train, 1 eval);
  `track_styles` (K,) str (`core.music.styles`);
- `encoder_sha256`, `codec_sha256`: the weights the latents were made with (the VAE's encoder,
  `core.bundle.encoder_sha256`, and the codec), so that a model trained on them records what it
  was fitted on and a stale file is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.data.melody_cache import open_versioned_npz, save_npz_atomically, select_tracks

FORMAT_VERSION = 4  # 3: the VAE's encoder hash, not its whole file's; 4: the chunks' outlines
_ARRAY_FIELDS = ("latents", "outlines", "track_offsets", "track_split", "track_styles")


@dataclass
class LatentSequences:
    latents: np.ndarray  # (N, D) float32
    outlines: np.ndarray  # (N, OUTLINE_SLOTS) int16 outline tokens
    track_offsets: np.ndarray  # (K + 1,) int64
    track_split: np.ndarray  # (K,) int8
    track_styles: np.ndarray  # (K,) str
    encoder_sha256: str
    codec_sha256: str

    @property
    def data_dims(self) -> int:
        return int(self.latents.shape[1])

    @property
    def track_lengths(self) -> np.ndarray:
        """(K,) number of latents of each track."""
        return np.diff(self.track_offsets)

    def save(self, path: str | Path) -> None:
        """Write atomically (temporary file, then rename)."""
        save_npz_atomically(path, format_version=np.array(FORMAT_VERSION), encoder_sha256=np.array(self.encoder_sha256),
                            codec_sha256=np.array(self.codec_sha256),
                            **{name: getattr(self, name) for name in _ARRAY_FIELDS})

    @classmethod
    def load(cls, path: str | Path) -> "LatentSequences":
        with open_versioned_npz(path, "encoded latents", FORMAT_VERSION, "python -m train.encode",
                                unversioned=1) as data:
            return cls(encoder_sha256=str(data["encoder_sha256"]), codec_sha256=str(data["codec_sha256"]),
                       **{name: data[name] for name in _ARRAY_FIELDS})

    def track_indices(self, split: str | None = None, style: str | None = None) -> np.ndarray:
        """Indices of the tracks of `split` ("train", "eval", None = all) and `style` (None = all)."""
        return select_tracks(self.track_split, self.track_styles, split, style)

    def windows(self, split: str | None, length: int, stride: int = 1, style: str | None = None) -> np.ndarray:
        """(W, 2) int64 rows (track, first latent) of every `length`-long span at `stride`."""
        if length < 1 or stride < 1:
            raise ValueError(f"length and stride must be >= 1, got {length} and {stride}")
        tracks = self.track_indices(split, style)
        lengths = self.track_lengths[tracks]
        rows = [(track, start) for track, count in zip(tracks, lengths)
                for start in range(0, int(count) - length + 1, stride)]
        return np.array(rows, dtype=np.int64).reshape(-1, 2)

    def gather(self, rows: np.ndarray, length: int) -> torch.Tensor:
        """Windows (B, 2) rows of (track, first latent) -> (B, length, D) float32 latents."""
        return self.gather_spans(np.column_stack([rows, np.full(len(rows), length)]))[0]  # (B, length, D)

    def _span_index(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spans (B, 3) rows of (track, first latent, length) -> ((B, L) int64 index of each place's
        chunk, the span's first one at padding; (B, L) bool padding, True past each span's length),
        L = the longest span."""
        lengths = rows[:, 2]
        steps = np.arange(int(lengths.max()))
        padding = steps[None, :] >= lengths[:, None]  # (B, L)
        index = self.track_offsets[rows[:, 0]][:, None] + rows[:, 1][:, None] + np.where(padding, 0, steps)
        return index, padding

    def gather_spans(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Spans (B, 3) rows of (track, first latent, length) -> ((B, L, D) latents zero-padded at
        the end, (B, L) bool padding mask, True past each span's length), L = the longest span."""
        index, padding = self._span_index(rows)
        latents = np.where(padding[..., None], 0.0, self.latents[index]).astype(np.float32)
        return torch.from_numpy(latents), torch.from_numpy(padding)

    def span_outlines(self, rows: np.ndarray) -> torch.Tensor:
        """Spans (B, 3) rows of (track, first latent, length) -> (B, L, S) long outline tokens, unknown
        (0) past each span's length; L = the longest span."""
        index, padding = self._span_index(rows)
        return torch.from_numpy(np.where(padding[..., None], 0, self.outlines[index]).astype(np.int64))
