"""Specification of diffusion and TransformerMDN training (train.train_diffusion, train.train_mdn)."""

import json

import numpy as np
import pytest
import torch

from core.bundle import check_bundle, read_manifest, weights_sha256
from core.denoiser import load_denoiser
from core.latent_sequences import LatentSequences
from core.mdn import load_mdn
from core.schedule import NoiseSchedule
from train.loop import learning_rate
from train.presets import preset
from train.train_diffusion import diffusion_loss
from train.train_diffusion import main as train_diffusion
from train.train_mdn import main as train_mdn
from train.train_sequence import check_export_target

TINY = ["--model-dims", "16", "--layers", "1", "--heads", "2", "--transformer-mlp-dims", "32", "--mlp-dims", "32",
        "--batch-size", "16", "--eval-windows", "32", "--learning-rate", "0.003", "--dropout", "0.0"]
TRACKS, TRACK_LENGTH, DIMS = 20, 34, 4  # 3 windows of 32 latents per track


@pytest.fixture
def latents_file(tmp_path):
    """A learnable toy process: each track repeats one random 4-dim vector; every 4th track held out."""
    rng = np.random.default_rng(0)
    latents = np.concatenate([np.tile(rng.uniform(-0.8, 0.8, (1, DIMS)), (TRACK_LENGTH, 1)) for _ in range(TRACKS)])
    path = tmp_path / "latents.npz"
    LatentSequences(latents=latents.astype(np.float32),
                    track_offsets=np.arange(0, TRACK_LENGTH * TRACKS + 1, TRACK_LENGTH),
                    track_split=(np.arange(TRACKS) % 4 == 3).astype(np.int8),
                    track_styles=np.array(["folk"] * TRACKS), vae_sha256="a" * 64, codec_sha256="b" * 64).save(path)
    return path


def test_staircase_learning_rate_follows_the_paper():
    paper = preset("paper").diffusion_training
    assert learning_rate(0, paper) == 1e-3
    assert learning_rate(3999, paper) == 1e-3
    assert learning_rate(8000, paper) == pytest.approx(1e-3 * 0.98**2)


def test_the_paper_preset_trains_on_the_papers_linear_schedule():
    paper = preset("paper").diffusion_training
    assert (paper.beta_start, paper.beta_end, paper.diffusion_steps) == (1e-6, 0.01, 1000)


def test_diffusion_loss_of_a_perfect_noise_predictor_is_zero():
    class Cheater(torch.nn.Module):  # knows x0, so recovers the noise from x_t and the level
        def forward(self, x_t, level):
            a = level.square()[:, None, None]
            return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    x0 = torch.rand(8, 4, 3) * 2 - 1
    loss = diffusion_loss(Cheater(), x0, NoiseSchedule.linear(), torch.Generator().manual_seed(0))
    assert loss.item() < 1e-6


@pytest.mark.parametrize("trainer, loader, extra, name", [
    (train_diffusion, load_denoiser, ["--film-dims", "16", "--ema-decay", "0.9", "--diffusion-steps", "200"],
     "diffusion"),
    (train_mdn, load_mdn, ["--components", "3"], "mdn")])
def test_tiny_training_runs_lower_the_held_out_loss_resume_and_export(latents_file, tmp_path, trainer, loader,
                                                                     extra, name):
    out, model_dir = tmp_path / "run", tmp_path / "model"
    common = ["--data", str(latents_file), "--out", str(out), *TINY, *extra, "--eval-every", "10",
              "--checkpoint-every", "50"]
    trainer([*common, "--steps", "10"])
    trainer([*common, "--steps", "80", "--resume", "--export", str(model_dir)])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(10, 81, 10))
    assert records[-1]["eval_loss"] < records[0]["eval_loss"] - 0.1
    assert loader(model_dir).config.data_dims == DIMS
    check_bundle(model_dir, required=(name,))
    fitted_on = read_manifest(model_dir)["components"][name]["fitted_on"]
    assert (fitted_on["vae"], fitted_on["codec"]) == ("a" * 64, "b" * 64)
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
    (model_dir / "vae.safetensors").write_bytes(b"other weights")
    with pytest.raises(ValueError, match=r"latents were made with other weights than the vae.*train.encode --model"):
        check_export_target(model_dir, LatentSequences.load(latents_file))
    with pytest.raises(SystemExit):
        train_mdn(["--data", str(latents_file), "--out", str(tmp_path / "run"), *TINY, "--export", str(model_dir)])
    assert "latents were made with other weights" in capsys.readouterr().err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
