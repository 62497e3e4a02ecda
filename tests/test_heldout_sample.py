"""Specification of the corpus sample shipped with the model for the app's quick rerun (eval_lab.heldout_sample)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.bundle import DEFAULT_MODEL_DIR, VAE_ENCODER, check_bundle
from core.data.latent_sequences import LatentSequences
from core.data.melody_cache import ItemRecord, MelodyCache, split_of
from eval_lab.heldout_sample import BUNDLED_SAMPLE_DIR, TRACKS_PER_SPLIT, committed_lengths, sample_paths, write_sample

LENGTHS = {"folk": 2, "renaissance": 4}  # latents each style's run needs; the sample keeps 8 more at most
# item key -> its tracks as (name, latents); eval fraction 0.5 puts tune0 and mass1 in eval, the rest in train
CORPUS = {
    "essenFolksong/tune0.krn": [("t0", 12), ("t1", 1)],  # folk eval: t0 cut to 2 + 8, t1 too short
    "bach/chorale0.krn": [("t2", 12)],  # a style that was not asked for
    "essenFolksong/tune2.krn": [("t3", 5)],  # folk train, shorter than 2 + 8: kept whole
    "essenFolksong/tune3.krn": [("t4", 3), ("t5", 12)],  # with t3, three folk train tracks for two places
    "palestrina/mass0.krn": [("t6", 14)],  # renaissance train: cut to 4 + 8
    "palestrina/mass1.krn": [("t7", 4), ("t8", 3)],  # renaissance eval: t7 just long enough, t8 too short
    "essenFolksong/tune4.krn": [],  # an item that was skipped
}
KEPT_LATENTS = {"t0": 10, "t3": 5, "t4": 3, "t5": 10, "t6": 12, "t7": 4}


def chunk_numbers(latents: int) -> np.ndarray:
    """(latents * 32,) int8 melody whose chunk c is all c + 1, so a crop shows which chunks it kept."""
    return np.repeat(np.arange(1, latents + 1), 32).astype(np.int8)


@pytest.fixture()
def corpus(tmp_path) -> tuple[Path, Path]:
    """A melody cache of CORPUS and its 'encoding': track t's chunk c has the latent (t, c, 0.5)."""
    records = [ItemRecord(key, f"fingerprint of {key}", "" if tracks else "no melody", "", [n for n, _ in tracks],
                          [chunk_numbers(count) for _, count in tracks]) for key, tracks in CORPUS.items()]
    cache = MelodyCache.from_records("music21", 0.5, records)
    assert [split_of(key, 0.5) for key in CORPUS] == [1, 0, 0, 0, 0, 1, 1]
    lengths = [count for tracks in CORPUS.values() for _, count in tracks]
    latents = np.array([(track, chunk, 0.5) for track, count in enumerate(lengths) for chunk in range(count)],
                       dtype=np.float32)  # (N, 3)
    outlines = np.full((len(latents), 3), 60, dtype=np.int16)
    sequences = LatentSequences(latents, outlines, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                                cache.item_split[cache.track_items], cache.track_styles(), "encoder hash", "codec hash")
    sequences.save(tmp_path / "latents.npz")
    cache.save(tmp_path / "cache.npz")
    return tmp_path / "latents.npz", tmp_path / "cache.npz"


def load_sample(directory: Path) -> tuple[LatentSequences, MelodyCache]:
    latents_path, cache_path = sample_paths(directory)
    return LatentSequences.load(latents_path), MelodyCache.load(cache_path)


def test_the_sample_keeps_long_enough_tracks_of_each_style_and_split_in_corpus_order(corpus, tmp_path):
    written = write_sample(*corpus, tmp_path / "sample", LENGTHS, tracks=2, seed=0)
    assert written == sample_paths(tmp_path / "sample")
    sequences, cache = load_sample(tmp_path / "sample")
    names = cache.track_names.tolist()
    assert names[0] == "t0" and names[-2:] == ["t6", "t7"], "the one long enough track of each other style and split"
    assert names == sorted(names) and len(names) == 5 and set(names[1:3]) < {"t3", "t4", "t5"}, "2 of 3 folk train"
    assert sequences.latents[sequences.track_offsets[:-1], 0].tolist() == [int(n[1]) for n in names], \
        "the latents hold the same tracks as the cache, in the same order"
    assert sequences.track_styles.tolist() == ["folk", "folk", "folk", "renaissance", "renaissance"]
    assert sequences.track_split.tolist() == cache.item_split[cache.track_items].tolist() == [1, 0, 0, 0, 1]
    assert cache.track_styles().tolist() == sequences.track_styles.tolist()
    assert set(cache.item_keys) <= set(CORPUS) and cache.item_fingerprints[0] == f"fingerprint of {cache.item_keys[0]}"
    assert (cache.source, cache.eval_fraction) == ("music21", 0.5)
    assert (sequences.encoder_sha256, sequences.codec_sha256) == ("encoder hash", "codec hash")


def test_each_track_is_cut_to_its_styles_length_plus_eight_latents_and_its_melody_with_it(corpus, tmp_path):
    write_sample(*corpus, tmp_path / "sample", LENGTHS, tracks=2, seed=0)
    sequences, cache = load_sample(tmp_path / "sample")
    assert sequences.track_lengths.tolist() == [KEPT_LATENTS[name] for name in cache.track_names]
    for track, name in enumerate(cache.track_names):
        latents = sequences.latents[sequences.track_offsets[track] : sequences.track_offsets[track + 1]]
        np.testing.assert_array_equal(latents[:, 1], np.arange(KEPT_LATENTS[name]), "the first latents, in order")
        np.testing.assert_array_equal(cache.track_melody(track), chunk_numbers(KEPT_LATENTS[name]))


def test_the_seed_decides_which_long_enough_tracks_fill_the_places(corpus, tmp_path):
    def folk_train(seed: int, name: str) -> tuple[str, ...]:
        write_sample(*corpus, tmp_path / name, LENGTHS, tracks=2, seed=seed)
        return tuple(load_sample(tmp_path / name)[1].track_names[1:3])

    picks = {folk_train(seed, str(seed)) for seed in range(6)}
    assert 1 < len(picks) and picks <= {("t3", "t4"), ("t3", "t5"), ("t4", "t5")}
    assert folk_train(5, "again") == folk_train(5, "5")


def test_a_run_of_any_style_draws_from_every_style(corpus, tmp_path):
    write_sample(*corpus, tmp_path / "sample", {"any": 3}, tracks=10)
    sequences, cache = load_sample(tmp_path / "sample")
    assert dict(zip(cache.track_names, sequences.track_lengths.tolist())) == {
        "t0": 11, "t2": 11, "t3": 5, "t4": 3, "t5": 11, "t6": 11, "t7": 4, "t8": 3}, "all but t1, cut at 3 + 8"


def test_a_style_split_without_a_long_enough_track_or_a_mismatched_cache_is_refused(corpus, tmp_path):
    latents_path, cache_path = corpus
    with pytest.raises(ValueError, match="no eval track of style 'renaissance' with 5 latents or more"):
        write_sample(latents_path, cache_path, tmp_path / "sample", {"renaissance": 5})
    with pytest.raises(ValueError, match="tracks must be >= 1, got 0"):
        write_sample(latents_path, cache_path, tmp_path / "sample", LENGTHS, tracks=0)
    with pytest.raises(ValueError, match="no style to sample"):
        write_sample(latents_path, cache_path, tmp_path / "sample", {})
    cache = MelodyCache.load(cache_path)
    MelodyCache.from_records(cache.source, cache.eval_fraction, list(cache.records().values())[:2]).save(cache_path)
    with pytest.raises(ValueError, match="holds 9 tracks but the melody cache 3"):
        write_sample(latents_path, cache_path, tmp_path / "sample", LENGTHS)


def test_each_style_needs_the_longest_of_its_committed_runs(tmp_path):
    runs = [("folk_32bars", "folk", 16), ("folk_64bars", "folk", 32), ("renaissance_16bars", "renaissance", 8)]
    for run, style, length in runs:
        (tmp_path / run).mkdir()
        (tmp_path / run / "config.json").write_text(json.dumps({"style": style, "length": length}))
    assert committed_lengths(tmp_path) == {"folk": 32, "renaissance": 8}
    assert committed_lengths() == {"folk": 16, "renaissance": 32}, "the committed runs: 32 and 64 bars"


def test_the_committed_sample_fits_the_committed_bundle_and_runs():
    sequences, cache = load_sample(BUNDLED_SAMPLE_DIR)
    bundle = check_bundle(DEFAULT_MODEL_DIR).hashes
    assert (sequences.encoder_sha256, sequences.codec_sha256) == (bundle[VAE_ENCODER], bundle["codec"])
    assert sequences.track_lengths.tolist() == (np.diff(cache.track_offsets) // 32).tolist()
    assert sequences.track_split.tolist() == cache.item_split[cache.track_items].tolist()
    assert sequences.track_styles.tolist() == cache.track_styles().tolist()
    for style, length in committed_lengths().items():
        for split in ("train", "eval"):
            tracks = sequences.track_indices(split, style)
            assert tracks.size == TRACKS_PER_SPLIT, f"{style} {split}"
            assert sequences.track_lengths[tracks].min() >= length, f"{style} {split}"
    assert sum(path.stat().st_size for path in sample_paths(BUNDLED_SAMPLE_DIR)) < 5 * 2**20
