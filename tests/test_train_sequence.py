"""Specification of diffusion and TransformerMDN training (train.train_diffusion, train.train_mdn)."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from core.bundle import VAE_ENCODER, check_bundle, read_manifest, weights_sha256
from core.data.latent_sequences import LatentSequences
from core.diffusion.schedule import NoiseSchedule
from core.nets.denoiser import load_denoiser
from core.nets.mdn import Mixture, load_mdn
from core.nets.outline import load_outline_model
from train.configs import SequenceTrainConfig
from train.loop import learning_rate
from train.presets import preset
from train.train_diffusion import DiffusionTask, diffusion_loss
from train.train_diffusion import main as train_diffusion
from train.train_mdn import main as train_mdn
from train.train_mdn import mdn_loss
from train.train_outline import OutlineTask
from train.train_outline import main as train_outline
from train.train_sequence import LatentBatch, SpanSampler, check_export_target, model_styles

pytestmark = pytest.mark.slow  # trains the sequence models

TINY = ["--model-dims", "16", "--layers", "1", "--heads", "2", "--transformer-mlp-dims", "32", "--mlp-dims", "32",
        "--batch-size", "16", "--eval-windows", "32", "--learning-rate", "0.003", "--dropout", "0.0"]
TRACKS, DIMS = 20, 4
TRACK_LENGTHS = np.where(np.arange(TRACKS) % 2 == 0, 34, 3 + np.arange(TRACKS))  # half 34 latents long, half 3..21
STYLES = np.where(np.arange(TRACKS) % 5 == 0, "chorale", "folk")


def toy_sequences() -> LatentSequences:
    """A learnable toy process: each track repeats one random 4-dim vector; every 4th track held out."""
    rng = np.random.default_rng(0)
    latents = np.concatenate([np.tile(rng.uniform(-0.8, 0.8, (1, DIMS)), (length, 1)) for length in TRACK_LENGTHS])
    steps = np.arange(len(latents))
    outlines = np.stack([steps % 7 + 60, steps % 5 + 62, steps % 3 + 5], axis=1)  # toy pitches and counts
    return LatentSequences(latents=latents.astype(np.float32), outlines=outlines.astype(np.int16),
                           track_offsets=np.concatenate([[0], np.cumsum(TRACK_LENGTHS)]), track_split=(np.arange(TRACKS) % 4 == 3).astype(np.int8), track_styles=STYLES,
                           encoder_sha256="a" * 64, codec_sha256="b" * 64)


@pytest.fixture
def latents_file(tmp_path):
    path = tmp_path / "latents.npz"
    toy_sequences().save(path)
    return path


def test_staircase_learning_rate_follows_the_paper():
    paper = preset("paper").diffusion_training
    assert learning_rate(0, paper) == 1e-3
    assert learning_rate(3999, paper) == 1e-3
    assert learning_rate(8000, paper) == pytest.approx(1e-3 * 0.98**2)


def test_the_paper_preset_trains_on_the_papers_linear_schedule():
    paper = preset("paper").diffusion_training
    assert (paper.beta_start, paper.beta_end, paper.diffusion_steps) == (1e-6, 0.01, 1000)


def test_diffusion_loss_of_a_perfect_noise_predictor_is_zero_whatever_it_says_at_padded_positions():
    class Cheater(torch.nn.Module):  # knows x0, so recovers the noise from x_t and the level
        def forward(self, x_t, level, padding, style, positions, outlines):
            a = level.square()[:, None, None]
            eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
            return eps.masked_fill(padding[..., None], 100.0)

    x0 = torch.rand(8, 4, 3) * 2 - 1
    padding = torch.zeros(8, 4, dtype=torch.bool)
    padding[:4, 2:] = True
    batch = LatentBatch(x0, padding, torch.zeros(8, dtype=torch.long), torch.zeros(8, 4, 2, dtype=torch.long),
                        torch.zeros(8, 4, 3, dtype=torch.long))
    assert diffusion_loss(Cheater(), batch, NoiseSchedule.linear(), torch.Generator().manual_seed(0)).item() < 1e-6


def test_the_mdn_loss_averages_over_real_latents_only():
    class Fixed(torch.nn.Module):  # one unit Gaussian at 0: NLL of a latent at 0 is D/2 log(2 pi)
        def forward(self, x, padding, style, positions, outlines):
            shape = x.shape[:2]
            return Mixture(torch.zeros(*shape, 1), torch.zeros(*shape, 1, x.shape[-1]),
                           torch.zeros(*shape, 1, x.shape[-1]))

    latents = torch.zeros(2, 3, 2)
    latents[0, 2] = 50.0  # a padded position: would dominate the mean if counted
    padding = torch.tensor([[False, False, True], [False, False, False]])
    loss = mdn_loss(Fixed(), LatentBatch(latents, padding, torch.zeros(2, dtype=torch.long),
                                         torch.zeros(2, 3, 2, dtype=torch.long),
                                         torch.zeros(2, 3, 3, dtype=torch.long)))
    assert loss.item() == pytest.approx(math.log(2 * math.pi))


def span_config(**changes) -> SequenceTrainConfig:
    return dataclasses.replace(preset("demo").diffusion_training, style_weights="equal", **changes)


def test_spans_come_from_every_track_in_length_buckets_with_their_padding():
    sequences = toy_sequences()
    sampler = SpanSampler(sequences, "train", span_config(), ("chorale", "folk"))
    rows, _ = sampler.draw(np.random.default_rng(0), 4000)
    tracks, starts, lengths = rows.T
    assert set(tracks) == set(sequences.track_indices("train").tolist()), "short tracks are used too"
    assert lengths.min() == 1 and lengths.max() == 32
    assert (starts >= 0).all() and (starts + lengths <= sequences.track_lengths[tracks]).all()
    batch = sampler.batch(np.random.default_rng(1), 16)
    real_lengths = (~batch.padding).sum(1)
    assert batch.latents.shape[:2] == batch.padding.shape == (16, int(real_lengths.max()))
    assert real_lengths.max() - real_lengths.min() <= 8, "a batch groups similar lengths"
    assert torch.equal(batch.latents[batch.padding], torch.zeros(int(batch.padding.sum()), DIMS))


def test_every_latent_of_a_span_knows_its_distance_from_its_tracks_start_and_end():
    sequences = toy_sequences()
    sampler = SpanSampler(sequences, "train", span_config(), ("chorale", "folk"))
    track = int(sequences.track_indices("train")[0])
    length = int(sequences.track_lengths[track])
    rows = np.array([[track, 1, 2], [track, 0, length]])  # a span from the middle, and the whole track
    batch = sampler.gather(rows, np.zeros(2, dtype=np.int64))
    assert batch.positions[0, :2].tolist() == [[1, length - 2], [2, length - 3]]
    assert (batch.positions[0, 2:] == 0).all(), "padding"
    assert batch.positions[1, 0].tolist() == [0, length - 1] and batch.positions[1, length - 1].tolist() == [length - 1, 0]


def test_the_paper_preset_trains_on_32_latent_windows_without_labels():
    config = preset("paper").diffusion_training
    sequences = toy_sequences()
    assert model_styles(sequences, config) == ""
    sampler = SpanSampler(sequences, "train", config, ())
    rows, style = sampler.draw(np.random.default_rng(0), 500)
    assert (rows[:, 2] == 32).all() and (sequences.track_lengths[rows[:, 0]] >= 32).all()
    assert (style == 0).all()


@pytest.mark.parametrize("dropout, share", [(0.0, 0.0), (0.25, 0.25), (1.0, 1.0)])
def test_label_dropout_trains_that_share_of_spans_on_the_unconditional_path(dropout, share):
    labels = ("chorale", "folk")
    sampler = SpanSampler(toy_sequences(), "train", span_config(style_dropout=dropout), labels)
    styles = torch.cat([sampler.batch(np.random.default_rng(seed), 64).style for seed in range(40)])
    assert (styles == 0).float().mean().item() == pytest.approx(share, abs=0.03)
    assert set(styles.tolist()) <= {0, 1, 2}
    assert model_styles(toy_sequences(), span_config(style_dropout=dropout)) == ("" if dropout == 1 else "chorale,folk")


@pytest.mark.parametrize("trainer, loader, extra, name, dims", [
    (train_diffusion, load_denoiser, ["--film-dims", "16", "--ema-decay", "0.9", "--diffusion-steps", "200",
                                      "--outline-conditioned", "true"], "diffusion", DIMS),
    (train_mdn, load_mdn, ["--components", "3"], "mdn", DIMS),
    (train_outline, load_outline_model, [], "outline", 270)])
def test_tiny_variable_length_runs_lower_the_held_out_loss_resume_and_export(latents_file, tmp_path, trainer, loader,
                                                                     extra, name, dims):
    out, model_dir = tmp_path / "run", tmp_path / "model"
    common = ["--data", str(latents_file), "--out", str(out), *TINY, *extra, "--eval-every", "10",
              "--checkpoint-every", "50"]
    trainer([*common, "--steps", "10"])
    trainer([*common, "--steps", "80", "--resume", "--export", str(model_dir)])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(10, 81, 10))
    assert records[-1]["eval_loss"] < records[0]["eval_loss"] - 0.1
    model = loader(model_dir)
    assert model.config.data_dims == dims and model.config.style_labels == ("chorale", "folk")
    check_bundle(model_dir, required=(name,))
    fitted_on = read_manifest(model_dir)["components"][name]["fitted_on"]
    assert (fitted_on[VAE_ENCODER], fitted_on["codec"]) == ("a" * 64, "b" * 64)
    if name == "diffusion":
        assert fitted_on["schedule"] == weights_sha256(model_dir, "schedule")
        assert NoiseSchedule.load(model_dir).num_steps == 200, "the schedule comes from the training config"


def test_a_model_whose_dims_differ_from_the_data_is_refused(latents_file, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_diffusion(["--data", str(latents_file), "--out", str(tmp_path), *TINY, "--data-dims", "5",
                         "--steps", "1"])
    assert "data_dims=5" in capsys.readouterr().err


def test_exporting_into_a_bundle_with_another_vae_fails_before_training(latents_file, tmp_path, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    save_file({"encoder.weight_ih_l0": torch.ones(2)}, str(model_dir / "vae.safetensors"))
    with pytest.raises(ValueError, match=r"latents were made with other weights than the vae.*train.encode --model"):
        check_export_target(model_dir, LatentSequences.load(latents_file))
    with pytest.raises(SystemExit):
        train_mdn(["--data", str(latents_file), "--out", str(tmp_path / "run"), *TINY, "--export", str(model_dir)])
    assert "latents were made with other weights" in capsys.readouterr().err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_a_musicality_check_of_a_style_the_data_lacks_is_refused_before_training(latents_file, tmp_path):
    sequences = LatentSequences.load(latents_file)
    config = dataclasses.replace(span_config(), check_style="jazz")
    model_config = dataclasses.replace(preset("demo").denoiser, data_dims=DIMS, styles="chorale,folk")
    with pytest.raises(ValueError, match="--check-style: Style must be one of: chorale, folk, any; got 'jazz'"):
        DiffusionTask(sequences, latents_file, model_config, config, decoder_dir=tmp_path)


def test_a_musicality_check_of_no_latents_is_no_check_rather_than_a_crash_at_export(latents_file, tmp_path):
    sequences = LatentSequences.load(latents_file)
    config = dataclasses.replace(span_config(), check_latents=0)
    model_config = dataclasses.replace(preset("demo").outline, model_dims=16, layers=1, heads=2,
                                       transformer_mlp_dims=32, mlp_dims=32)
    task = OutlineTask(sequences, latents_file, OutlineTask.fitted_config(model_config, sequences, config), config,
                       decoder_dir=tmp_path)
    model = task.build_model(task.model_config)
    assert set(task.evaluate(model, step=1)) == {"eval_loss"}
