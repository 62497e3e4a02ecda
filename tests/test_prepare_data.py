"""Specification of corpus preparation (train.prepare_data) on a directory of MIDI files."""

import numpy as np
import pytest

from core.data.melody_cache import MelodyCache, split_of
from tests.midi_factory import instrument, midi_bytes, note, two_instrument_song
from train.prepare_data import main as prepare_data

LONG_CHUNKS = 70  # a 140-bar melody line


@pytest.fixture
def midi_dir(tmp_path):
    """Good multi-track files, a long song, a corrupt file, a drums-only file, a 3/4 file."""
    root = tmp_path / "lmd" / "a"
    root.mkdir(parents=True)
    (root / "song.mid").write_bytes(two_instrument_song())
    long_line = [note(32 * i, 32 * i + 8, 60 + i % 12) for i in range(LONG_CHUNKS)]
    (tmp_path / "lmd" / "Long.MIDI").write_bytes(midi_bytes([instrument(long_line, program=40)]))
    (root / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
    (root / "drums.mid").write_bytes(midi_bytes([instrument([note(0, 1, 36)], is_drum=True)]))
    (root / "waltz.mid").write_bytes(midi_bytes([instrument([note(0, 4, 60)])], meter=(3, 4)))
    (root / "notes.txt").write_text("not a MIDI file, ignored by suffix")
    return tmp_path / "lmd"


def run(midi_dir, out, capsys, *extra):
    prepare_data(["--source", "midi", "--input", str(midi_dir), "--out", str(out), "--workers", "2", *extra])
    return capsys.readouterr()


def test_midi_directory_run_skips_bad_files_with_reasons_and_keeps_good_melodies(midi_dir, tmp_path, capsys):
    out = tmp_path / "cache.npz"
    printed = run(midi_dir, out, capsys)
    summary = MelodyCache.load(out).summary()
    assert summary["items_read"] == 5
    assert summary["skipped_by_reason"] == {"drums only": 1, "non-duple meter": 1, "unreadable MIDI": 1}
    assert summary["songs"] == 2
    assert summary["tracks"] == 3  # lead + bass of song.mid, the long line
    assert summary["chunks"] == 2 + 1 + LONG_CHUNKS
    assert summary["windows_64_bars_stride_2_bars"] == LONG_CHUNKS - 32 + 1
    assert summary["windows_64_bars_disjoint"] == 2
    for figure in ("files/items read: 5", "skipped: 3", "2-bar chunks: 73", "64-bar windows"):
        assert figure in printed.out


def test_a_midi_folder_is_labelled_by_its_top_level_subfolder(midi_dir, tmp_path, capsys):
    out = tmp_path / "cache.npz"
    printed = run(midi_dir, out, capsys)
    cache = MelodyCache.load(out)
    assert cache.styles() == ["a", "midi"]  # song.mid lies in a/, Long.MIDI directly in the folder
    assert cache.summary()["chunks_by_style"] == {"a": 3, "midi": LONG_CHUNKS}  # lead 2 chunks, bass 1
    assert cache.track_indices(style="a").size == 2
    assert cache.chunks(style="midi").shape == (LONG_CHUNKS, 32)
    assert f"by style: a 3 chunks / 2 tracks, midi {LONG_CHUNKS} chunks / 1 tracks" in printed.out


def test_cached_melodies_equal_a_direct_extraction(midi_dir, tmp_path, capsys):
    from core.music.melody import trim_rest_chunks
    from core.music.midi_io import extract_melodies, load_midi_file

    out = tmp_path / "cache.npz"
    run(midi_dir, out, capsys)
    cache = MelodyCache.load(out)
    keys = cache.item_keys[cache.track_items].tolist()
    song_tracks = [t for t, key in enumerate(keys) if key == "a/song.mid"]
    direct = extract_melodies(load_midi_file(midi_dir / "a" / "song.mid"))
    assert len(song_tracks) == len(direct) == 2
    for track, melody in zip(song_tracks, direct):
        np.testing.assert_array_equal(cache.track_melody(track), trim_rest_chunks(melody.melody))


def test_rerun_parses_only_new_files(midi_dir, tmp_path, capsys):
    out = tmp_path / "cache.npz"
    run(midi_dir, out, capsys)
    assert "5 items: 5 cached, 0 to parse" in run(midi_dir, out, capsys).err
    (midi_dir / "new.mid").write_bytes(two_instrument_song())
    second = run(midi_dir, out, capsys)
    assert "6 items: 5 cached, 1 to parse" in second.err
    assert MelodyCache.load(out).summary()["songs"] == 3


def test_split_is_deterministic_by_piece_and_near_the_requested_fraction():
    keys = [f"piece{i}.mid" for i in range(4000)]
    splits = np.array([split_of(k, 0.1) for k in keys])
    assert splits.tolist() == [split_of(k, 0.1) for k in keys]
    assert 0.08 < splits.mean() < 0.12


def test_cache_chunks_by_split_partition_all_chunks(midi_dir, tmp_path, capsys):
    out = tmp_path / "cache.npz"
    run(midi_dir, out, capsys, "--eval-fraction", "0.5")
    cache = MelodyCache.load(out)
    assert cache.chunks("train").shape[0] + cache.chunks("eval").shape[0] == cache.chunks().shape[0]
    assert cache.chunks().shape[1] == 32


def test_missing_input_directory_is_a_clear_cli_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        prepare_data(["--source", "midi", "--input", str(tmp_path / "nope"), "--out", str(tmp_path / "c.npz")])
    assert "--input must be a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        prepare_data(["--source", "midi", "--out", str(tmp_path / "c.npz")])
    assert "needs --input DIR" in capsys.readouterr().err


def test_a_missing_or_outdated_corpus_file_is_refused_with_the_command_that_remakes_it(tmp_path):
    from core.data.latent_sequences import LatentSequences

    with pytest.raises(FileNotFoundError, match="no melody cache at .*`python -m train.prepare_data`"):
        MelodyCache.load(tmp_path / "absent.npz")
    np.savez(tmp_path / "future.npz", format_version=99)
    with pytest.raises(ValueError, match="melody cache format 99, this code reads 1; make it again with "
                                         "`python -m train.prepare_data`"):
        MelodyCache.load(tmp_path / "future.npz")
    np.savez(tmp_path / "unversioned.npz", vae_sha256="x")  # written before latents files had a version
    with pytest.raises(ValueError, match="encoded latents format 1, this code reads 4; .*`python -m train.encode`"):
        LatentSequences.load(tmp_path / "unversioned.npz")
