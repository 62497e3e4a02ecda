"""Specification of the shared training loop (train.loop), its runtime and the preset registry."""

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from core.data.melody_cache import ItemRecord, MelodyCache
from core.music.melody import melody_from_notes
from core.nets.checkpoint import save_checkpoint
from train.configs import TrainConfig
from train.loop import train
from train.presets import PRESETS, preset
from train.runtime import setup_runtime

pytestmark = pytest.mark.slow  # trains, under torchrun too

REPO_ROOT = Path(__file__).resolve().parents[1]
TRUE_WEIGHTS = torch.tensor([1.0, -2.0, 0.5, 3.0])


@dataclass(frozen=True)
class ToyConfig:
    dims: int = 4


class ToyTask:
    """Linear regression y = x . w + small noise: batches from the rng, noise from the generator."""

    name = "toy"
    model_config = ToyConfig()
    fitted_on = {"data": "toy-v1"}

    def __init__(self):
        self.eval_x = torch.randn(256, 4, generator=torch.Generator().manual_seed(99))
        self.output_dtype = None

    def build_model(self, model_config):
        return nn.Linear(model_config.dims, 1)

    def next_batch(self, rng, batch_size, device):
        return torch.from_numpy(rng.standard_normal((batch_size, 4)).astype(np.float32)).to(device)

    def loss(self, model, x, step, generator):
        target = x @ TRUE_WEIGHTS + 0.01 * torch.randn(x.shape[0], generator=generator, device=x.device)
        prediction = model(x)[:, 0]
        self.output_dtype = prediction.dtype
        loss = torch.mean((prediction.float() - target) ** 2)
        return loss, {"loss": loss.item()}

    def evaluate(self, model, step):
        return {"eval_loss": torch.mean((model(self.eval_x)[:, 0] - self.eval_x @ TRUE_WEIGHTS) ** 2).item()}

    def export(self, model, directory, record):
        save_checkpoint(directory, self.name, model, self.model_config, record["step"])


def toy_config(**changes) -> TrainConfig:
    values = dict(batch_size=32, steps=200, learning_rate=0.05, lr_decay=1.0, lr_decay_every=1, eval_every=100,
                  checkpoint_every=100, precision="fp32")
    return TrainConfig(**{**values, **changes})


def initial_eval_loss(task: ToyTask, seed: int = 0) -> float:
    torch.manual_seed(seed)  # the loop initializes the weights under the config's seed
    with torch.no_grad():
        return task.evaluate(task.build_model(task.model_config), 0)["eval_loss"]


def test_the_loop_lowers_the_loss_and_logs_each_evaluation(tmp_path):
    task = ToyTask()
    model, record = train(task, toy_config(), tmp_path, False, setup_runtime("cpu"))
    assert record["step"] == 200 and record["eval_loss"] < 1e-3 < 10 <= initial_eval_loss(task)
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    assert torch.allclose(model.weight[0], TRUE_WEIGHTS, atol=0.02)


def test_resuming_after_n_steps_repeats_an_uninterrupted_run_of_2n_steps_exactly(tmp_path):
    """Model, Adam state, EMA and per-step randomness all resume: on the CPU the weights are bitwise equal."""
    config = toy_config(steps=20, eval_every=10, checkpoint_every=10, ema_decay=0.9)
    runtime = setup_runtime("cpu")
    whole, _ = train(ToyTask(), config, tmp_path / "whole", False, runtime)
    train(ToyTask(), toy_config(steps=10, eval_every=10, checkpoint_every=10, ema_decay=0.9), tmp_path / "split",
          False, runtime)
    resumed, record = train(ToyTask(), config, tmp_path / "split", True, runtime)
    assert record["step"] == 20
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    raw_whole, raw_split = (load_file(str(tmp_path / run / "toy.safetensors")) for run in ("whole", "split"))
    assert all(torch.equal(raw_whole[key], raw_split[key]) for key in raw_whole)


def test_ema_weights_follow_the_moving_average_of_the_raw_weights(tmp_path):
    task = ToyTask()
    torch.manual_seed(0)
    initial = task.build_model(task.model_config).state_dict()
    ema, _ = train(task, toy_config(steps=1, eval_every=1, checkpoint_every=1, ema_decay=0.9), tmp_path, False,
                   setup_runtime("cpu"))
    raw = load_file(str(tmp_path / "toy.safetensors"))  # the trained weights after one step
    for key, value in ema.state_dict().items():
        assert not torch.equal(value, raw[key])
        assert torch.allclose(value, 0.9 * initial[key] + 0.1 * raw[key], atol=1e-7)


def test_a_new_run_can_start_from_the_weights_of_another_and_a_resumed_one_ignores_them(tmp_path):
    runtime, task = setup_runtime("cpu"), ToyTask()
    train(task, toy_config(steps=200), tmp_path / "first", False, runtime)
    trained = load_file(str(tmp_path / "first" / "toy.safetensors"))
    started, _ = train(task, toy_config(steps=0, eval_every=1), tmp_path / "second", False, runtime,
                       init_from=tmp_path / "first")
    assert all(torch.equal(value, trained[key]) for key, value in started.state_dict().items())
    assert task.evaluate(started, 0)["eval_loss"] < 0.01 < initial_eval_loss(task)
    train(task, toy_config(steps=2, eval_every=2, checkpoint_every=2), tmp_path / "third", False, runtime)
    resumed, _ = train(task, toy_config(steps=2, eval_every=2, checkpoint_every=2), tmp_path / "third", True, runtime,
                       init_from=tmp_path / "first")
    assert not torch.equal(resumed.weight, trained["weight"]), "a resumed run keeps its own weights"


def test_resuming_with_ema_a_run_trained_without_is_an_error(tmp_path):
    runtime = setup_runtime("cpu")
    train(ToyTask(), toy_config(steps=2, eval_every=2, checkpoint_every=2), tmp_path, False, runtime)
    with pytest.raises(ValueError, match="trained without EMA"):
        train(ToyTask(), toy_config(steps=4, eval_every=2, checkpoint_every=2, ema_decay=0.9), tmp_path, True, runtime)


def test_resuming_a_run_on_other_data_is_an_error(tmp_path):
    runtime = setup_runtime("cpu")
    train(ToyTask(), toy_config(steps=2, eval_every=2, checkpoint_every=2), tmp_path, False, runtime)
    newer = ToyTask()
    newer.fitted_on = {"data": "toy-v2"}  # say, latents of a retrained VAE
    with pytest.raises(ValueError, match=r"the toy run in .* was trained on other data \(data changed since\)"):
        train(newer, toy_config(steps=4, eval_every=2, checkpoint_every=2), tmp_path, True, runtime)


def test_bf16_autocast_runs_on_the_cpu_and_learns(tmp_path):
    task = ToyTask()
    _, record = train(task, toy_config(precision="bf16"), tmp_path, False, setup_runtime("cpu"))
    assert task.output_dtype == torch.bfloat16
    assert record["eval_loss"] < 0.01 * initial_eval_loss(task)


@pytest.mark.parametrize("changes, message", [
    ({"precision": "fp8"}, r"precision must be one of \['auto', 'fp32', 'bf16', 'fp16'\], got 'fp8'"),
    ({"precision": "fp16"}, "precision 'fp16' needs a CUDA device"),
    ({"eval_every": 0}, "eval_every must be >= 1, got 0"),
    ({"ema_decay": 1.0}, r"ema_decay must lie in \[0, 1\), got 1.0"),
])
def test_bad_loop_settings_are_refused(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        train(ToyTask(), toy_config(**changes), tmp_path, False, setup_runtime("cpu"))


def test_the_preset_registry_names_every_model_and_its_training():
    assert sorted(PRESETS) == ["demo", "paper"]
    paper = preset("paper")
    assert (paper.vae.z_size, paper.denoiser.mlp_dims, paper.mdn.components) == (512, 2048, 100)
    assert (paper.vae_training.batch_size, paper.diffusion_training.batch_size, paper.mdn_training.batch_size,
            paper.mdn_training.learning_rate) == (512, 64, 128, 3e-4)
    with pytest.raises(ValueError, match=r"unknown preset 'huge': --config must be one of \['demo', 'paper'\]"):
        preset("huge")


TORCHRUN_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from safetensors.torch import save_file
    from core.nets.vae import VAEConfig
    from train.configs import VAETrainConfig
    from train.loop import train
    from train.runtime import setup_runtime
    from train.train_vae import VAETask

    cache, out = Path(sys.argv[1]), Path(sys.argv[2])
    runtime = setup_runtime("cpu")
    config = VAETrainConfig(batch_size=16, steps=4, eval_every=2, checkpoint_every=2, eval_chunks=8,
                            sampling_rate=10.0, precision="fp32")
    task = VAETask(cache, VAEConfig(encoder_size=16, decoder_size=16, decoder_layers=1, z_size=4), config)
    model, _ = train(task, config, out, False, runtime)
    save_file(dict(model.state_dict()), str(out / f"rank{runtime.rank}.safetensors"))
    runtime.close()
""")


def test_two_processes_under_torchrun_train_in_step(tmp_path):
    """torchrun --nproc_per_node=2 on the CPU (gloo, DDP): the ranks draw different batches but
    average their gradients, so both end with the same weights."""
    rng = np.random.default_rng(0)
    records = [ItemRecord(f"folk/piece{i}.mid", "f", "", "", ["voice"],
                          [melody_from_notes(np.arange(0, 64, 4), np.arange(4, 68, 4), rng.integers(55, 80, 16))])
               for i in range(16)]
    MelodyCache.from_records("midi", 0.25, records).save(tmp_path / "cache.npz")
    (tmp_path / "script.py").write_text(TORCHRUN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(tmp_path / "script.py"), str(tmp_path / "cache.npz"), str(tmp_path / "run")],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (load_file(str(tmp_path / "run" / f"rank{rank}.safetensors")) for rank in (0, 1))
    assert all(torch.equal(rank0[key], rank1[key]) for key in rank0)
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2  # rank 0 logs, at steps 2 and 4


def test_large_exported_weights_are_stored_in_half_precision_and_load_back_into_float32(tmp_path):
    from core.nets.checkpoint import load_weights_into, save_checkpoint
    from train.run_state import store_in_half

    model = torch.nn.Linear(64, 32)
    save_checkpoint(tmp_path, "net", model, TinyConfig(), step=1)
    path = tmp_path / "net.safetensors"
    assert not store_in_half(path), "under the size: left in float32"
    assert store_in_half(path, above_bytes=1000)
    assert {tensor.dtype for tensor in load_file(str(path)).values()} == {torch.float16}
    restored = torch.nn.Linear(64, 32)
    load_weights_into(restored, path)
    assert restored.weight.dtype == torch.float32
    torch.testing.assert_close(restored.weight, model.weight, atol=1e-3, rtol=1e-3)


@dataclass
class TinyConfig:
    width: int = 64
