"""A small sample of the encoded corpus that ships with the model, for the app's quick rerun.

    python -m eval_lab.heldout_sample --latents data/latents_music21.npz --data data/music21.npz \
        --out demo/model/heldout

For every style (by default those of the committed runs in eval_lab/results) and for each
split (train, eval), up to --tracks tracks long enough for that style's committed run,
drawn with a fixed seed and cropped to the run's length plus SPARE_LATENTS latents. Writes
latents.npz (a `LatentSequences`) and melodies.npz (a `MelodyCache`) in the same formats as
the full corpus, tracks in the same order in both, so `eval_lab.run.run` reads them unchanged:
the source, the item keys and the eval fraction keep each track's style and split, and the
VAE and codec hashes still tie the latents to the bundle they were encoded with.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from core.bundle import DEFAULT_MODEL_DIR
from core.data.latent_sequences import LatentSequences
from core.data.melody_cache import SPLIT_NAMES, MelodyCache
from core.music.constants import STEPS_PER_CHUNK
from core.nets.transformer import ANY_STYLE
from eval_lab.run import RESULTS_DIR, EvalConfig, read_run_config

BUNDLED_SAMPLE_DIR = DEFAULT_MODEL_DIR / "heldout"
LATENTS_NAME, MELODIES_NAME = "latents.npz", "melodies.npz"
TRACKS_PER_SPLIT = 32
SPARE_LATENTS = 8  # latents kept past a run's length, so that its windows start at different places


def sample_paths(directory: str | Path) -> tuple[Path, Path]:
    """(latents, melody cache) of the sample in `directory`."""
    return Path(directory) / LATENTS_NAME, Path(directory) / MELODIES_NAME


def committed_lengths(results_dir: str | Path = RESULTS_DIR) -> dict[str, int]:
    """Style -> the longest length (in latents) of the committed runs of that style."""
    lengths: dict[str, int] = {}
    for path in sorted(Path(results_dir).glob("*/config.json")):
        setting = read_run_config(path.parent)
        style, length = setting.get("style", EvalConfig.style), setting.get("length", EvalConfig.length)
        lengths[style] = max(length, lengths.get(style, 0))
    return lengths


def sample_tracks(sequences: LatentSequences, lengths: dict[str, int], tracks: int, seed: int) -> np.ndarray:
    """(K',) ascending indices of up to `tracks` tracks per style and split, each at least as
    long as its style's entry in `lengths`, drawn with `seed`."""
    if tracks < 1:
        raise ValueError(f"tracks must be >= 1, got {tracks}")
    if not lengths:
        raise ValueError("no style to sample: name styles, or commit a run of `python -m eval_lab.run` first")
    chosen = []
    for style, length in sorted(lengths.items()):
        for split in SPLIT_NAMES:
            candidates = sequences.track_indices(split, None if style == ANY_STYLE else style)
            candidates = candidates[sequences.track_lengths[candidates] >= length]
            if candidates.size == 0:
                raise ValueError(f"the corpus has no {split} track of style {style!r} with {length} latents or more")
            rng = np.random.default_rng(seed)
            chosen.append(rng.choice(candidates, size=min(tracks, candidates.size), replace=False))
    return np.unique(np.concatenate(chosen))


def crop_corpus(sequences: LatentSequences, cache: MelodyCache, tracks: np.ndarray,
                keep: np.ndarray) -> tuple[LatentSequences, MelodyCache]:
    """The `tracks` (K',) of the corpus, in that order, track i cut to its first keep[i] latents
    and keep[i] * STEPS_PER_CHUNK melody steps; the cache keeps only the items that own them."""
    starts = sequences.track_offsets[tracks]
    latents = np.concatenate([sequences.latents[s : s + n] for s, n in zip(starts, keep)])  # (sum(keep), D)
    offsets = np.concatenate([[0], np.cumsum(keep)]).astype(np.int64)
    cropped_latents = replace(sequences, latents=latents, track_offsets=offsets,
                              track_split=sequences.track_split[tracks], track_styles=sequences.track_styles[tracks])
    items, track_items = np.unique(cache.track_items[tracks], return_inverse=True)
    melodies = [cache.track_melody(t)[: n * STEPS_PER_CHUNK] for t, n in zip(tracks, keep)]
    cropped_cache = replace(
        cache, item_keys=cache.item_keys[items], item_fingerprints=cache.item_fingerprints[items],
        item_skip_reasons=cache.item_skip_reasons[items], item_skip_details=cache.item_skip_details[items],
        item_split=cache.item_split[items], track_items=track_items.astype(np.int32),
        track_names=cache.track_names[tracks], events=np.concatenate(melodies),
        track_offsets=np.concatenate([[0], np.cumsum([m.size for m in melodies])]).astype(np.int64))
    return cropped_latents, cropped_cache


def write_sample(latents_path: str | Path, cache_path: str | Path, out: str | Path, lengths: dict[str, int],
                 tracks: int = TRACKS_PER_SPLIT, seed: int = 0) -> tuple[Path, Path]:
    """Write the sample of the corpus (`latents_path`, `cache_path`) for the style -> length
    `lengths` into `out`; returns the paths of its latents and its melody cache."""
    sequences, cache = LatentSequences.load(latents_path), MelodyCache.load(cache_path)
    if len(sequences.track_lengths) != cache.track_items.size:
        raise ValueError(f"{latents_path} holds {len(sequences.track_lengths)} tracks but the melody cache "
                         f"{cache.track_items.size}: encode this cache with `python -m train.encode`")
    kept = sample_tracks(sequences, lengths, tracks, seed)
    needed = [max(lengths.get(style, 0), lengths.get(ANY_STYLE, 0)) for style in sequences.track_styles[kept]]
    keep = np.minimum(sequences.track_lengths[kept], np.add(needed, SPARE_LATENTS))
    sample_latents, sample_cache = crop_corpus(sequences, cache, kept, keep)
    latents_out, cache_out = sample_paths(out)
    sample_latents.save(latents_out)
    sample_cache.save(cache_out)
    return latents_out, cache_out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.heldout_sample", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latents", type=Path, default=Path("data/latents_music21.npz"), help="from train.encode")
    parser.add_argument("--data", type=Path, default=Path("data/music21.npz"), help="the melody cache it encodes")
    parser.add_argument("--out", type=Path, default=BUNDLED_SAMPLE_DIR,
                        help=f"output directory (default: the bundle's {BUNDLED_SAMPLE_DIR.name}/)")
    parser.add_argument("--tracks", type=int, default=TRACKS_PER_SPLIT,
                        help=f"tracks per style and split (default {TRACKS_PER_SPLIT})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--styles", nargs="+", default=None,
                        help="styles to sample (default: those of the committed runs); the length needed is the "
                             f"committed run's, or {EvalConfig.length} latents for a style without one")
    args = parser.parse_args(argv)
    committed = committed_lengths()
    lengths = committed if args.styles is None else {s: committed.get(s, EvalConfig.length) for s in args.styles}
    try:
        paths = write_sample(args.latents, args.data, args.out, lengths, args.tracks, args.seed)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    for path in paths:
        print(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MB)")


if __name__ == "__main__":
    main()
