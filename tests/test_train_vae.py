"""Specification of VAE training (train.train_vae), augmentation and corpus encoding."""

import json

import numpy as np
import pytest
import torch

from core.latents import LatentCodec
from core.melody import melody_from_notes, notes_from_melody
from core.vae import MusicVAE, VAEConfig, load_vae
from train.augment import random_transpose
from train.encode import main as encode_main
from train.encode import window_index
from train.melody_cache import ItemRecord, MelodyCache
from train.train_vae import kl_weight, learning_rate, sampling_probability, vae_loss
from train.train_vae import main as train_main
from train.configs import VAE_TRAIN_PRESETS

TINY_FLAGS = ["--encoder-size", "24", "--decoder-size", "24", "--decoder-layers", "1", "--z-size", "8",
              "--batch-size", "32", "--eval-chunks", "32", "--learning-rate", "0.01", "--sampling-rate", "0"]


@pytest.fixture
def tiny_cache(tmp_path):
    """A cache of 24 short pieces built from four repeating 2-bar patterns."""
    rng = np.random.default_rng(0)
    patterns = [melody_from_notes(np.arange(0, 32, step), np.arange(step, 32 + step, step),
                                  60 + (np.arange(32 // step) * shift) % 12)
                for step, shift in ((4, 2), (8, 5), (2, 1), (16, 7))]
    records = []
    for piece in range(24):
        melody = np.concatenate([patterns[i] for i in rng.integers(0, 4, 6)])
        records.append(ItemRecord(f"piece{piece}", "f", "", "", ["voice"], [melody]))
    path = tmp_path / "cache.npz"
    MelodyCache.from_records("midi", 0.25, records).save(path)
    return path


def test_schedules_follow_magenta():
    assert sampling_probability(0, 1000.0) == pytest.approx(1 - 1000 / 1001)
    assert sampling_probability(20_000, 1000.0) > 0.99
    assert sampling_probability(10**9, 1000.0) == 1.0
    assert sampling_probability(5, 0.0) == 0.0
    paper = VAE_TRAIN_PRESETS["paper"]
    assert kl_weight(0, paper) == 0.0
    assert kl_weight(10**7, paper) == pytest.approx(0.5)
    assert learning_rate(0, paper) == 1e-3
    assert learning_rate(10**7, paper) == paper.min_learning_rate


def test_loss_is_cross_entropy_summed_over_steps_plus_weighted_kl():
    vae = MusicVAE(VAEConfig(encoder_size=16, decoder_size=16, decoder_layers=1, z_size=4))
    tokens = torch.zeros(2, 32, dtype=torch.long)
    out = vae(tokens)
    loss, stats = vae_loss(out, tokens, beta=0.5, free_bits=0.0)
    expected_recon = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 90), tokens.reshape(-1)) * 32
    assert stats["recon"] == pytest.approx(expected_recon.item(), rel=1e-5)
    assert loss.item() == pytest.approx(expected_recon.item() + 0.5 * out.kl.mean().item(), rel=1e-5)
    free_bits = out.kl.max().item() / np.log(2) + 1.0  # every chunk's KL lies under the free bits
    loss_free, _ = vae_loss(out, tokens, beta=0.5, free_bits=free_bits)
    assert loss_free.item() == pytest.approx(expected_recon.item(), rel=1e-5)


def test_random_transpose_stays_in_range_and_keeps_rhythm():
    chunks = np.stack([melody_from_notes([0, 8], [8, 16], [22, 30]),
                       melody_from_notes([0], [4], [107]),
                       np.zeros(32, np.int8)])
    rng = np.random.default_rng(0)
    for _ in range(50):
        shifted = random_transpose(chunks, rng, 5)
        assert ((shifted >= 2) == (chunks >= 2)).all() and (shifted[chunks < 2] == chunks[chunks < 2]).all()
        assert notes_from_melody(shifted[0])[2].min() >= 21 and notes_from_melody(shifted[1])[2].max() <= 108
    shifts = {int(random_transpose(chunks, rng, 5)[0, 0]) - int(chunks[0, 0]) for _ in range(300)}
    assert shifts == {-1, 0, 1, 2, 3, 4, 5}, "pitch 22 can only go one semitone down"


def test_tiny_training_run_lowers_the_loss_and_resumes(tiny_cache, tmp_path):
    out = tmp_path / "run"
    common = ["--config", "demo", "--data", str(tiny_cache), "--out", str(out), *TINY_FLAGS,
              "--eval-every", "30", "--checkpoint-every", "30"]
    train_main([*common, "--steps", "60"])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [30, 60]
    first_meta = json.loads((out / "vae.json").read_text())
    assert first_meta["step"] == 60
    train_main([*common, "--steps", "90", "--resume", "--export", str(tmp_path / "model")])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [30, 60, 90]
    untrained_loss = 32 * np.log(90)  # uniform predictions over 90 tokens at 32 steps
    assert records[0]["eval_loss"] < 0.5 * untrained_loss
    assert records[-1]["eval_loss"] < records[0]["eval_loss"]
    assert load_vae(tmp_path / "model").config.z_size == 8


def test_unknown_preset_and_override_are_errors(tiny_cache, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_main(["--config", "huge", "--data", str(tiny_cache), "--out", str(tmp_path)])
    assert "--config must be one of ['demo', 'paper']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--config", "demo", "--colour", "blue"])
    assert "unrecognized arguments: --colour" in capsys.readouterr().err


def test_encode_writes_normalized_sequences_windows_and_the_codec(tiny_cache, tmp_path):
    train_main(["--config", "demo", "--data", str(tiny_cache), "--out", str(tmp_path / "run"), *TINY_FLAGS,
                "--steps", "40", "--eval-every", "40", "--export", str(tmp_path / "model")])
    out = tmp_path / "latents.npz"
    encode_main(["--model", str(tmp_path / "model"), "--data", str(tiny_cache), "--out", str(out),
                 "--window", "4", "--stride", "2", "--sigma-threshold", "1.0"])
    codec = LatentCodec.load(tmp_path / "model")
    with np.load(out) as data:
        assert data["latents"].shape == (24 * 6, codec.data_dims)
        assert np.abs(data["latents"]).max() <= 1.0 + 1e-5
        assert data["track_offsets"].tolist() == list(range(0, 24 * 6 + 1, 6))
        assert len(data["windows_train"]) + len(data["windows_eval"]) == 24 * 2  # starts 0 and 2


def test_window_index_lists_every_fitting_span():
    assert window_index(np.array([5, 2, 4]), 3, 1).tolist() == [[0, 0], [0, 1], [0, 2], [2, 0], [2, 1]]
    assert window_index(np.array([5]), 3, 2).tolist() == [[0, 0], [0, 2]]
