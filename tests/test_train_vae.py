"""Specification of VAE training (train.train_vae), augmentation and corpus encoding."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from core.bundle import (
    VAE_ENCODER,
    check_bundle,
    encoder_sha256,
    file_sha256,
    read_manifest,
    record_component,
    weights_sha256,
)
from core.data.latent_sequences import LatentSequences
from core.data.melody_cache import ItemRecord, MelodyCache
from core.music.melody import melody_from_notes, notes_from_melody
from core.nets.codec import LatentCodec
from core.nets.vae import ENCODER_PARTS, MusicVAE, VAEConfig, load_vae
from train.augment import random_transpose
from train.configs import VAETrainConfig
from train.encode import main as encode_main
from train.loop import learning_rate
from train.presets import preset
from train.style_mix import style_shares
from train.train_vae import VAETask, kl_weight, sampling_probability, vae_loss
from train.train_vae import main as train_main

pytestmark = pytest.mark.slow  # trains the VAE

TINY_FLAGS = ["--encoder-size", "24", "--decoder-size", "24", "--decoder-layers", "1", "--z-size", "8",
              "--batch-size", "32", "--eval-chunks", "32", "--learning-rate", "0.01", "--sampling-rate", "0"]
PATTERNS = [melody_from_notes(np.arange(0, 32, step), np.arange(step, 32 + step, step),
                              60 + (np.arange(32 // step) * shift) % 12)
            for step, shift in ((4, 2), (8, 5), (2, 1), (16, 7))]


def write_cache(path, styles: list[str], chunks_per_piece: int = 6) -> None:
    """One single-track piece per entry of `styles` (a MIDI folder's subfolder = its style)."""
    rng = np.random.default_rng(0)
    records = [ItemRecord(f"{style}/piece{index}.mid", "f", "", "", ["voice"],
                          [np.concatenate([PATTERNS[i] for i in rng.integers(0, 4, chunks_per_piece)])])
               for index, style in enumerate(styles)]
    MelodyCache.from_records("midi", 0.25, records).save(path)


@pytest.fixture
def tiny_cache(tmp_path):
    """24 pieces of two styles built from four repeating 2-bar patterns."""
    path = tmp_path / "cache.npz"
    write_cache(path, ["folk", "chorale"] * 12)
    return path


def test_schedules_follow_magenta():
    assert sampling_probability(0, 1000.0) == pytest.approx(1 - 1000 / 1001)
    assert sampling_probability(20_000, 1000.0) > 0.99
    assert sampling_probability(10**9, 1000.0) == 1.0
    assert sampling_probability(5, 0.0) == 0.0
    paper = preset("paper").vae_training
    assert kl_weight(0, paper) == 0.0
    assert kl_weight(10**7, paper) == pytest.approx(0.5)
    assert learning_rate(0, paper) == 1e-3
    assert learning_rate(1000, paper) == pytest.approx(1e-3 * 0.9999**1000)
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


def test_style_weights_equal_natural_and_explicit():
    counts = {"folk": 900, "chorale": 100}
    assert style_shares("equal", counts) == {"folk": 0.5, "chorale": 0.5}
    assert style_shares("natural", counts) == {"folk": 0.9, "chorale": 0.1}
    assert style_shares("folk=3, chorale=1", counts) == {"folk": 0.75, "chorale": 0.25}
    assert style_shares("folk=1", counts) == {"folk": 1.0, "chorale": 0.0}
    with pytest.raises(ValueError, match=r"names 'jazz'.*styles \['chorale', 'folk'\]"):
        style_shares("folk=1,jazz=1", counts)
    with pytest.raises(ValueError, match="not LABEL=NUMBER"):
        style_shares("folk=lots", counts)
    with pytest.raises(ValueError, match=r"gives every style of the training data \(chorale, folk\) weight 0"):
        style_shares("folk=0", counts)
    assert style_shares("folk=2,renaissance=1", counts) == {"folk": 1.0, "chorale": 0.0}, \
        "a music21 style the data lacks is ignored"


def test_balanced_sampling_gives_each_style_its_share(tmp_path):
    path = tmp_path / "skewed.npz"
    write_cache(path, ["renaissance"] * 90 + ["folk"] * 10, chunks_per_piece=2)  # 90% renaissance chunks
    rng = np.random.default_rng(0)
    for weights, folk_share in (("equal", 0.5), ("natural", 0.1)):
        task = VAETask(path, preset("demo").vae, VAETrainConfig(style_weights=weights))
        _, styles = task.sampler.draw(rng, 10_000)
        share = np.mean(np.array(task.sampler.styles)[styles] == "folk")
        assert share == pytest.approx(folk_share, abs=0.02), weights


def test_tiny_training_run_lowers_the_loss_resumes_and_exports_a_bundle(tiny_cache, tmp_path):
    out, model_dir = tmp_path / "run", tmp_path / "model"
    # the toy patterns are chromatic, so moving them into C leaves held-out chunks in other keys than the
    # training ones: transposition augmentation, as the paper preset has, lets the tiny model generalize
    common = ["--config", "demo", "--data", str(tiny_cache), "--out", str(out), *TINY_FLAGS,
              "--eval-every", "30", "--checkpoint-every", "30", "--transpose-semitones", "5"]
    train_main([*common, "--steps", "60"])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [30, 60]
    assert json.loads((out / "vae.json").read_text())["step"] == 60
    train_main([*common, "--steps", "90", "--resume", "--export", str(model_dir)])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [30, 60, 90]
    untrained_loss = 32 * np.log(90)  # uniform predictions over 90 tokens at 32 steps
    assert records[0]["eval_loss"] < 0.5 * untrained_loss
    assert records[-1]["eval_loss"] < records[0]["eval_loss"]
    for style in ("folk", "chorale"):  # per-style held-out scores next to the overall ones
        assert 0.0 <= records[-1][f"eval_note_f1_{style}"] <= 1.0
        assert 0.0 <= records[-1][f"eval_token_accuracy_{style}"] <= 1.0
    assert load_vae(model_dir).config.z_size == 8
    assert check_bundle(model_dir, required=("vae",)).has("vae")
    assert read_manifest(model_dir)["components"]["vae"]["fitted_on"] == {"data": file_sha256(tiny_cache)}


def test_unknown_preset_and_override_are_errors(tiny_cache, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_main(["--config", "huge", "--data", str(tiny_cache), "--out", str(tmp_path)])
    assert "--config must be one of ['demo', 'paper']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--config", "demo", "--colour", "blue"])
    assert "unrecognized arguments: --colour" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--data", str(tiny_cache), "--out", str(tmp_path), "--style-weights", "jazz=1", "--steps", "1"])
    assert "style_weights names 'jazz'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--data", str(tiny_cache), "--out", str(tmp_path), "--freeze-encoder", "true"])
    assert "--freeze-encoder true trains the decoder of an existing VAE: give its bundle with --init-from" \
        in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--data", str(tiny_cache), "--out", str(tmp_path), "--latent-noise", "0.1"])
    assert "--latent-noise fine-tunes the decoder of an existing bundle" in capsys.readouterr().err


def test_encode_writes_normalized_sequences_and_the_weights_they_come_from(tiny_cache, tmp_path):
    model_dir = tmp_path / "model"
    train_main(["--config", "demo", "--data", str(tiny_cache), "--out", str(tmp_path / "run"), *TINY_FLAGS,
                "--steps", "40", "--eval-every", "40", "--export", str(model_dir)])
    out = tmp_path / "latents.npz"
    encode_main(["--model", str(model_dir), "--data", str(tiny_cache), "--out", str(out), "--sigma-threshold", "1.0"])
    latents = LatentSequences.load(out)
    assert latents.latents.shape == (24 * 6, LatentCodec.load(model_dir).data_dims)
    assert latents.track_offsets.tolist() == list(range(0, 24 * 6 + 1, 6))
    train_rows = np.repeat(latents.track_split == 0, 6)  # the codec's [-1, 1] is the training chunks' range
    assert np.abs(latents.latents[train_rows]).max() <= 1.0 + 1e-5
    assert sorted(set(latents.track_styles.tolist())) == ["chorale", "folk"]
    assert (latents.encoder_sha256, latents.codec_sha256) == (encoder_sha256(model_dir),
                                                              weights_sha256(model_dir, "codec"))
    assert read_manifest(model_dir)["components"]["codec"]["fitted_on"] == {VAE_ENCODER: latents.encoder_sha256}


@pytest.mark.parametrize("sampled_latents", [[], ["--latent-noise", "0.1", "--noise-conditioned", "true"]],
                         ids=["plain", "for sampled latents"])
def test_a_decoder_fine_tuned_with_the_encoder_frozen_keeps_the_codec_and_every_latent(tiny_cache, tmp_path,
                                                                                      sampled_latents):
    model_dir = tmp_path / "model"
    train_main(["--config", "demo", "--data", str(tiny_cache), "--out", str(tmp_path / "run"), *TINY_FLAGS,
                "--steps", "20", "--eval-every", "20", "--export", str(model_dir)])
    encode = ["--model", str(model_dir), "--data", str(tiny_cache), "--sigma-threshold", "1.0"]
    encode_main([*encode, "--out", str(tmp_path / "before.npz")])
    before = load_file(str(model_dir / "vae.safetensors"))
    train_main(["--config", "demo", "--data", str(tiny_cache), "--out", str(tmp_path / "decoder"), *TINY_FLAGS,
                "--steps", "20", "--eval-every", "20", "--init-from", str(model_dir), "--freeze-encoder", "true",
                *sampled_latents, "--export", str(model_dir)])
    after = load_file(str(model_dir / "vae.safetensors"))
    if sampled_latents:  # the weights it started from had no noise levels: that part starts at zero and learns
        assert load_vae(model_dir).config.noise_conditioned and after["noise_shift.weight"].abs().sum() > 0
    encoder = [name for name in before if name.startswith(ENCODER_PARTS)]
    assert encoder and all(torch.equal(before[name], after[name]) for name in encoder)
    assert not torch.equal(before["to_logits.weight"], after["to_logits.weight"]), "the decoder learnt"
    assert check_bundle(model_dir, required=("vae", "codec")).has("codec"), "the codec still fits"
    encode_main([*encode, "--out", str(tmp_path / "after.npz")])
    assert np.array_equal(LatentSequences.load(tmp_path / "before.npz").latents,
                          LatentSequences.load(tmp_path / "after.npz").latents)


def test_encoding_with_a_codec_of_another_vae_needs_refit_codec(tiny_cache, tmp_path, capsys):
    model_dir = tmp_path / "model"
    flags = ["--config", "demo", "--data", str(tiny_cache), *TINY_FLAGS, "--steps", "2", "--eval-every", "2",
             "--export", str(model_dir)]
    train_main([*flags, "--out", str(tmp_path / "run")])
    encode = ["--model", str(model_dir), "--data", str(tiny_cache), "--out", str(tmp_path / "x.npz"),
              "--sigma-threshold", "1.0"]
    encode_main(encode)
    train_main([*flags, "--out", str(tmp_path / "run2"), "--seed", "5"])  # a new VAE replaces the old one
    with pytest.raises(SystemExit):
        encode_main(encode)
    error = capsys.readouterr().err
    assert "was fitted on another VAE encoder" in error and "pass --refit-codec" in error
    old_codec = weights_sha256(model_dir, "codec")
    save_file({"w": torch.zeros(1)}, str(model_dir / "diffusion.safetensors"))  # a model of the old latents
    (model_dir / "diffusion.json").write_text(json.dumps({"config": {}}))
    record_component(model_dir, "diffusion", {"codec": old_codec})
    encode_main([*encode, "--refit-codec"])
    assert read_manifest(model_dir)["components"]["codec"]["fitted_on"] == {VAE_ENCODER: encoder_sha256(model_dir)}
    assert "diffusion" not in read_manifest(model_dir)["components"], "it learnt the old codec's latents"
    assert "left out of the bundle's manifest until it is retrained" in capsys.readouterr().err
    assert check_bundle(model_dir, required=("vae", "codec")).has("codec")
    assert (model_dir / "diffusion.safetensors").is_file(), "its weights stay"
