"""The compact melody corpus: one `.npz` of int8 events with per-piece and per-track indexes.

Layout (all plain arrays, loaded with `allow_pickle=False`):
- items: every work item seen (`item_keys`, `item_fingerprints`), why it was skipped
  (`item_skip_reasons`, "" when kept; `item_skip_details`) and its split (`item_split`,
  0 = train, 1 = eval). An item is a piece (song); the split is by piece.
- tracks: `track_items` (owning item), `track_names`, `track_offsets` into `events`.
- `events`: every track's melody, leading and trailing rest chunks trimmed, concatenated;
  every track is a whole number of 32-step chunks.

The same file is the incremental cache of `train.prepare_data`: items whose fingerprint is
unchanged are not parsed again.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from core.music.constants import CHUNKS_PER_WINDOW, STEPS_PER_CHUNK
from core.music.keys import normalizing_shift, transpose_melody
from core.music.melody import MELODY_DTYPE, rest_chunk_mask
from core.music.styles import style_of

FORMAT_VERSION = 1
TRAIN, EVAL = 0, 1
SPLIT_NAMES = {"train": TRAIN, "eval": EVAL}


def save_npz_atomically(path: str | Path, **arrays: np.ndarray) -> None:
    """np.savez_compressed to a temporary file beside `path`, then rename: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(temporary, **arrays)
    os.replace(temporary, path)


@contextmanager
def open_versioned_npz(path: str | Path, what: str, version: int, remake: str,
                       unversioned: int | None = None) -> Iterator[np.lib.npyio.NpzFile]:
    """Open the `.npz` at `path` (no pickles) if its `format_version` is `version`; else a
    FileNotFoundError or ValueError that names `what` it should hold and the command that
    `remake`s it. `unversioned`: the version of files written before the field existed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}; make it with `{remake}`")
    with np.load(path, allow_pickle=False) as data:
        found = int(data["format_version"]) if "format_version" in data or unversioned is None else unversioned
        if found != version:
            raise ValueError(f"{path} has {what} format {found}, this code reads {version}; make it again with "
                             f"`{remake}`")
        yield data


def select_tracks(track_split: np.ndarray, track_styles, split: str | None, style: str | None) -> np.ndarray:
    """Indices of the tracks whose split (0 train, 1 eval) is `split` and whose style is `style`
    (None: any). track_split: (K,) int; track_styles: (K,) str, or a function giving them when needed."""
    keep = np.ones(track_split.size, dtype=bool)
    if split is not None:
        if split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {sorted(SPLIT_NAMES)} or None, got {split!r}")
        keep &= track_split == SPLIT_NAMES[split]
    if style is not None:
        keep &= (track_styles() if callable(track_styles) else track_styles) == style
    return np.flatnonzero(keep)


def split_of(key: str, eval_fraction: float) -> int:
    """Deterministic split of a piece from its key alone (stable when the corpus grows)."""
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return EVAL if int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction else TRAIN


@dataclass
class ItemRecord:
    """Everything the cache stores about one work item."""

    key: str
    fingerprint: str
    skip_reason: str  # "" when the item yielded tracks
    skip_detail: str
    track_names: list[str]
    melodies: list[np.ndarray]  # each (T,) int8, T a multiple of 32


@dataclass
class MelodyCache:
    """In-memory view of a cache file. Build with `from_records`, read with `load`."""

    source: str
    eval_fraction: float
    item_keys: np.ndarray  # (I,) str
    item_fingerprints: np.ndarray  # (I,) str
    item_skip_reasons: np.ndarray  # (I,) str
    item_skip_details: np.ndarray  # (I,) str
    item_split: np.ndarray  # (I,) int8
    track_items: np.ndarray  # (K,) int32
    track_names: np.ndarray  # (K,) str
    track_offsets: np.ndarray  # (K + 1,) int64
    events: np.ndarray  # (E,) int8

    @classmethod
    def from_records(cls, source: str, eval_fraction: float, records: list[ItemRecord]) -> "MelodyCache":
        track_items, track_names, melodies = [], [], []
        for index, record in enumerate(records):
            for name, melody in zip(record.track_names, record.melodies):
                track_items.append(index)
                track_names.append(name)
                melodies.append(melody)
        lengths = np.array([m.size for m in melodies], dtype=np.int64)
        return cls(
            source=source,
            eval_fraction=eval_fraction,
            item_keys=np.array([r.key for r in records], dtype=str),
            item_fingerprints=np.array([r.fingerprint for r in records], dtype=str),
            item_skip_reasons=np.array([r.skip_reason for r in records], dtype=str),
            item_skip_details=np.array([r.skip_detail for r in records], dtype=str),
            item_split=np.array([split_of(r.key, eval_fraction) for r in records], dtype=np.int8),
            track_items=np.array(track_items, dtype=np.int32),
            track_names=np.array(track_names, dtype=str),
            track_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            events=(np.concatenate(melodies) if melodies else np.zeros(0)).astype(MELODY_DTYPE),
        )

    def records(self) -> dict[str, ItemRecord]:
        """Item key -> stored record, for reuse by an incremental run."""
        by_item: dict[int, list[int]] = {}
        for track, item in enumerate(self.track_items):
            by_item.setdefault(int(item), []).append(track)
        out = {}
        for index, key in enumerate(self.item_keys):
            tracks = by_item.get(index, [])
            out[str(key)] = ItemRecord(
                key=str(key),
                fingerprint=str(self.item_fingerprints[index]),
                skip_reason=str(self.item_skip_reasons[index]),
                skip_detail=str(self.item_skip_details[index]),
                track_names=[str(self.track_names[t]) for t in tracks],
                melodies=[self.track_melody(t) for t in tracks],
            )
        return out

    def save(self, path: str | Path) -> None:
        """Write atomically (temporary file, then rename), so a crash never leaves half a file."""
        save_npz_atomically(path, format_version=np.array(FORMAT_VERSION), source=np.array(self.source),
                            eval_fraction=np.array(self.eval_fraction),
                            **{name: getattr(self, name) for name in _ARRAY_FIELDS})

    @classmethod
    def load(cls, path: str | Path) -> "MelodyCache":
        with open_versioned_npz(path, "melody cache", FORMAT_VERSION, "python -m train.prepare_data") as data:
            return cls(
                source=str(data["source"]),
                eval_fraction=float(data["eval_fraction"]),
                **{name: data[name] for name in _ARRAY_FIELDS},
            )

    def track_melody(self, track: int, key_normalized: bool = False) -> np.ndarray:
        """(T,) int8 melody of one track; key_normalized: moved so that its best-fitting major scale
        is C (`core.music.keys.normalizing_shift`), as a key-normalized VAE is trained and fed."""
        melody = self.events[self.track_offsets[track] : self.track_offsets[track + 1]]
        return transpose_melody(melody, normalizing_shift(melody)) if key_normalized else melody

    def track_styles(self) -> np.ndarray:
        """(K,) str style label of every track (`core.music.styles.style_of` of its piece's key)."""
        item_styles = np.array([style_of(self.source, str(key)) for key in self.item_keys], dtype=str)
        return item_styles[self.track_items] if self.track_items.size else np.zeros(0, dtype=str)

    def styles(self) -> list[str]:
        """The style labels present in the cache, sorted."""
        return sorted(set(self.track_styles().tolist()))

    def track_indices(self, split: str | None = None, style: str | None = None) -> np.ndarray:
        """Indices of the tracks in `split` ("train", "eval" or None for all) of `style` (None: all)."""
        return select_tracks(self.item_split[self.track_items], self.track_styles, split, style)

    def chunks(self, split: str | None = None, style: str | None = None, key_normalized: bool = False) -> np.ndarray:
        """All 2-bar chunks of the tracks in `split` (and `style`): (N, 32) int8.

        key_normalized: each track moved into C (`track_melody`)."""
        tracks = self.track_indices(split, style)
        if tracks.size == 0:
            return np.zeros((0, STEPS_PER_CHUNK), dtype=MELODY_DTYPE)
        parts = [self.track_melody(t, key_normalized) for t in tracks]
        return np.concatenate(parts).reshape(-1, STEPS_PER_CHUNK)  # (N, 32)

    def chunks_per_track(self, split: str | None = None, style: str | None = None) -> np.ndarray:
        """(K_split,) number of 2-bar chunks of each track in `split` (and `style`)."""
        tracks = self.track_indices(split, style)
        return (np.diff(self.track_offsets)[tracks] // STEPS_PER_CHUNK).astype(np.int64)

    def window_count(self, split: str | None = None, length: int = CHUNKS_PER_WINDOW, stride: int = 1) -> int:
        """How many windows of `length` consecutive chunks fit in the tracks of `split`."""
        if length < 1 or stride < 1:
            raise ValueError(f"length and stride must be >= 1, got {length} and {stride}")
        counts = self.chunks_per_track(split)
        fitting = counts[counts >= length]
        return int(((fitting - length) // stride + 1).sum())

    def summary(self) -> dict[str, object]:
        """Figures the prepare_data CLI prints: items, skips by reason, songs, chunks, windows."""
        kept = self.item_skip_reasons == ""
        reasons, counts = np.unique(self.item_skip_reasons[~kept], return_counts=True)
        chunks = self.chunks()
        return {
            "items_read": int(self.item_keys.size),
            "items_skipped": int((~kept).sum()),
            "skipped_by_reason": {str(r): int(c) for r, c in zip(reasons, counts)},
            "songs": int(kept.sum()),
            "songs_train": int((kept & (self.item_split == TRAIN)).sum()),
            "songs_eval": int((kept & (self.item_split == EVAL)).sum()),
            "tracks": int(self.track_items.size),
            "chunks": int(chunks.shape[0]),
            "rest_chunks": int(rest_chunk_mask(chunks).sum()),
            "chunks_train": int(self.chunks_per_track("train").sum()),
            "chunks_eval": int(self.chunks_per_track("eval").sum()),
            "windows_64_bars_stride_2_bars": self.window_count(),
            "windows_64_bars_train": self.window_count("train"),
            "windows_64_bars_eval": self.window_count("eval"),
            "windows_64_bars_disjoint": self.window_count(stride=CHUNKS_PER_WINDOW),
            "tracks_of_64_bars_or_more": int((self.chunks_per_track() >= CHUNKS_PER_WINDOW).sum()),
            "chunks_by_style": {style: int(self.chunks_per_track(style=style).sum()) for style in self.styles()},
            "tracks_by_style": {style: int(self.track_indices(style=style).size) for style in self.styles()},
        }


_ARRAY_FIELDS = (
    "item_keys",
    "item_fingerprints",
    "item_skip_reasons",
    "item_skip_details",
    "item_split",
    "track_items",
    "track_names",
    "track_offsets",
    "events",
)
