"""Specification of diffusion and TransformerMDN training (train.train_diffusion, train.train_mdn)."""

import json

import numpy as np
import pytest
import torch

from core.denoiser import load_denoiser
from core.mdn import load_mdn
from train.train_diffusion import diffusion_loss
from train.train_diffusion import main as train_diffusion
from train.train_mdn import main as train_mdn
from train.train_sequence import LatentWindows, learning_rate
from train.configs import DIFFUSION_TRAIN_PRESETS

TINY = ["--model-dims", "16", "--layers", "1", "--heads", "2", "--transformer-mlp-dims", "32", "--mlp-dims", "32",
        "--batch-size", "16", "--eval-windows", "32", "--learning-rate", "0.003", "--dropout", "0.0"]


@pytest.fixture
def latents_file(tmp_path):
    """Latent windows of a learnable toy process: each track repeats one random 4-dim vector."""
    rng = np.random.default_rng(0)
    tracks = [np.tile(rng.uniform(-0.8, 0.8, (1, 4)), (8, 1)) for _ in range(40)]
    latents = np.concatenate(tracks).astype(np.float32)
    windows = np.array([(t, s) for t in range(40) for s in range(5)])
    path = tmp_path / "latents.npz"
    np.savez(path, latents=latents, is_rest=np.zeros(len(latents), bool),
             track_offsets=np.arange(0, 8 * 40 + 1, 8), track_split=np.zeros(40, np.int8),
             track_keys=np.array([f"t{i}" for i in range(40)]), windows_train=windows[:160],
             windows_eval=windows[160:], window=np.array(4))
    return path


def test_latent_windows_gather_consecutive_latents(latents_file):
    windows = LatentWindows(latents_file, "train")
    batch = windows.gather(np.array([0, 7]))
    assert batch.shape == (2, 4, 4)
    with np.load(latents_file) as data:
        start = data["track_offsets"][1] + 2  # window 7 = track 1, start 2
        assert torch.equal(batch[1], torch.from_numpy(data["latents"][start : start + 4]))


def test_staircase_learning_rate_follows_the_paper():
    paper = DIFFUSION_TRAIN_PRESETS["paper"]
    assert learning_rate(0, paper) == 1e-3
    assert learning_rate(3999, paper) == 1e-3
    assert learning_rate(8000, paper) == pytest.approx(1e-3 * 0.98**2)


def test_diffusion_loss_of_a_perfect_noise_predictor_is_zero():
    class Cheater(torch.nn.Module):  # knows x0, so recovers the noise from x_t and the level
        def forward(self, x_t, level):
            a = level.square()[:, None, None]
            return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    x0 = torch.rand(8, 4, 3) * 2 - 1
    assert diffusion_loss(Cheater(), x0, torch.Generator().manual_seed(0)).item() < 1e-6


@pytest.mark.parametrize("trainer, loader, extra", [(train_diffusion, load_denoiser, ["--film-dims", "16"]),
                                                     (train_mdn, load_mdn, ["--components", "3"])])
def test_tiny_training_runs_lower_the_held_out_loss_and_resume(latents_file, tmp_path, trainer, loader, extra):
    out, model_dir = tmp_path / "run", tmp_path / "model"
    common = ["--data", str(latents_file), "--out", str(out), *TINY, *extra, "--eval-every", "10",
              "--checkpoint-every", "50"]
    trainer([*common, "--steps", "10"])
    trainer([*common, "--steps", "150", "--resume", "--export", str(model_dir)])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(10, 151, 10))
    assert records[-1]["eval_loss"] < records[0]["eval_loss"] - 0.1
    assert loader(model_dir).config.data_dims == 4


def test_a_model_whose_dims_differ_from_the_data_is_refused(latents_file, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_diffusion(["--data", str(latents_file), "--out", str(tmp_path), *TINY, "--data-dims", "5",
                         "--steps", "1"])
    assert "data_dims=5" in capsys.readouterr().err
