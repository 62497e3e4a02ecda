"""The committed demo VAE reconstructs real held-out melodies (demo/model)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from core.data.melody_cache import EVAL, split_of
from core.music.keys import normalizing_shift, transpose_melody
from core.music.melody import rest_chunk_mask, split_into_chunks
from core.music.midi_io import extract_melodies, load_midi_file, melody_to_pretty_midi
from core.music.musicality import average_interval_profile
from core.nets.codec import LatentCodec
from core.nets.roundtrip import reconstruct_melodies, reconstruction_scores
from core.nets.vae import load_vae
from eval_lab.reconstruction import main as reconstruction_main
from train import music21_corpus

pytestmark = pytest.mark.slow  # encodes and decodes held-out tunes with the committed VAE

MODEL_DIR = Path(__file__).resolve().parent.parent / "demo" / "model"


@pytest.fixture(scope="module")
def held_out_tunes() -> list[np.ndarray]:
    """Whole Essen folk songs that the data split holds out (eval split), at least 40 chunks in all."""
    root = music21_corpus.corpus_root()
    path = root / "essenFolksong" / "altdeu10.abc"
    abc_tunes = music21_corpus._split_abc_tunes(path.read_text(encoding="latin-1"))
    tunes = []
    for index, tune in enumerate(abc_tunes):
        key = f"essenFolksong/altdeu10.abc#{index}"
        if split_of(key, 0.05) != EVAL:
            continue
        try:
            tracks = music21_corpus.read_item(music21_corpus.Music21Item(key, str(path), tune))
        except music21_corpus.SkippedItem:
            continue
        tunes += [track.melody for track in tracks]
        if sum(tune.size for tune in tunes) >= 40 * 32:
            break
    return tunes


@pytest.fixture(scope="module")
def vae():
    return load_vae(MODEL_DIR)


def test_the_committed_vae_is_key_normalized(vae):
    assert vae.config.key_normalized


def test_committed_vae_reconstructs_held_out_folk_chunks(vae, held_out_tunes):
    original = np.concatenate([split_into_chunks(tune) for tune in held_out_tunes])  # (N, 32)
    rebuilt = np.concatenate([split_into_chunks(tune) for tune in reconstruct_melodies(vae, held_out_tunes)])
    sounding = ~rest_chunk_mask(original)
    assert sounding.sum() >= 30
    scores = reconstruction_scores(original[sounding], rebuilt[sounding])
    assert scores["token_accuracy"] >= 0.97, scores  # the aims of a latent space that carries folk tunes
    assert scores["note_f1"] >= 0.90, scores


def test_reconstructions_keep_the_tunes_interval_profile(vae, held_out_tunes):
    """The repeated-note smear of the earlier VAE (a third of all intervals against a tenth) is gone."""
    original = average_interval_profile(held_out_tunes)
    rebuilt = average_interval_profile(reconstruct_melodies(vae, held_out_tunes))
    assert abs(rebuilt["repeated_share"] - original["repeated_share"]) <= 0.03, (original, rebuilt)
    assert abs(rebuilt["step_share"] - original["step_share"]) <= 0.05, (original, rebuilt)


def test_a_melody_is_reconstructed_in_its_own_key(vae, held_out_tunes):
    tune = held_out_tunes[0]
    for shift in (-5, 0, 3):
        moved = transpose_melody(tune, shift)
        (rebuilt,) = reconstruct_melodies(vae, [moved])
        assert normalizing_shift(rebuilt) == normalizing_shift(moved)


def test_committed_codec_maps_held_out_latents_near_the_unit_range(vae, held_out_tunes):
    codec = LatentCodec.load(MODEL_DIR)
    chunks = np.concatenate([split_into_chunks(transpose_melody(t, normalizing_shift(t))) for t in held_out_tunes])
    chunks = chunks[~rest_chunk_mask(chunks)]
    mu, _ = vae.encode(torch.as_tensor(chunks, dtype=torch.long))
    x = codec.transform(mu)
    assert x.shape[1] == codec.data_dims
    assert x.abs().max() < 1.5, "held-out latents stay close to the training range"
    assert torch.allclose(codec.transform(codec.inverse(x)), x, atol=1e-4), "the kept coordinates come back"


def test_the_command_writes_every_files_reconstruction_under_the_same_name(held_out_tunes, tmp_path, capsys):
    source, out = tmp_path / "tunes", tmp_path / "rebuilt"
    (source / "sub").mkdir(parents=True)
    names = ["a.mid", "b.mid", "sub/c.mid"]
    for name, tune in zip(names, held_out_tunes):
        melody_to_pretty_midi(tune).write(str(source / name))
    reconstruction_main(["--model", str(MODEL_DIR), "--midi", str(source), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "wrote 3 reconstructions" in printed
    assert "intervals original repeated=" in printed and "intervals reconstructed repeated=" in printed
    for name, tune in zip(names, held_out_tunes):
        (line,) = extract_melodies(load_midi_file(out / name))
        assert line.melody.size == tune.size
