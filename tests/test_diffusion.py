"""Specification of the noise schedule, the denoiser network and the samplers."""

import pytest
import torch
from torch import nn

from core.denoiser import DenoiserConfig, TransformerDenoiser
from core.samplers import sample, sample_windowed
from core.schedule import NoiseSchedule

SCHEDULE = NoiseSchedule.linear()


class OracleDenoiser(nn.Module):
    """The exact eps for a data set holding one point: eps = (x - sqrt(a) p) / sqrt(1 - a)."""

    def __init__(self, point: torch.Tensor):
        super().__init__()
        self.point = nn.Parameter(point, requires_grad=False)  # (K, D)
        self.calls = 0

    def forward(self, x, noise_level):
        self.calls += 1
        a = noise_level.square()[:, None, None]
        return (x - a.sqrt() * self.point) / (1 - a).sqrt()


def test_linear_schedule_matches_the_paper():
    assert SCHEDULE.num_steps == 1000
    assert SCHEDULE.betas[1].item() == pytest.approx(1e-6)
    assert SCHEDULE.betas[1000].item() == pytest.approx(0.01)
    assert SCHEDULE.alpha_bars[0].item() == 1.0
    assert SCHEDULE.alpha_bars[1000].item() == pytest.approx(0.0066, abs=2e-4)
    assert (SCHEDULE.alpha_bars[1:] < SCHEDULE.alpha_bars[:-1]).all()


def test_q_sample_has_the_closed_form_mean_and_variance():
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 1), 0.7)
    a = torch.full((20000,), SCHEDULE.alpha_bars[300].item())
    xt = SCHEDULE.q_sample(x0, a, torch.randn(x0.shape, generator=g))
    assert xt.mean().item() == pytest.approx(a[0].sqrt().item() * 0.7, abs=0.01)
    assert xt.var().item() == pytest.approx(1 - a[0].item(), rel=0.03)


def test_training_levels_lie_between_neighbouring_alpha_bars():
    g = torch.Generator().manual_seed(1)
    levels = SCHEDULE.sample_training_levels(5000, g)
    assert levels.min() >= SCHEDULE.alpha_bars[-1] and levels.max() <= 1.0
    assert levels.std() > 0.2


def test_trailing_timesteps_start_at_the_last_step():
    assert SCHEDULE.timesteps(4) == [1000, 750, 500, 250]
    assert SCHEDULE.timesteps(1000)[-1] == 1
    with pytest.raises(ValueError, match="steps must lie in 1..1000"):
        SCHEDULE.timesteps(0)


@pytest.mark.parametrize("sampler, steps", [("ddpm", None), ("ddim", 20), ("fast", 5), ("ddpm", 100)])
def test_samplers_with_an_oracle_return_the_single_data_point(sampler, steps):
    point = torch.linspace(-0.9, 0.9, 24).reshape(8, 3)
    oracle = OracleDenoiser(point)
    out = sample(oracle, SCHEDULE, (2, 8, 3), torch.Generator().manual_seed(0), sampler=sampler, steps=steps)
    assert torch.allclose(out.latents, point.expand(2, 8, 3), atol=1e-4)
    assert oracle.calls == (steps or 1000)


def test_infilling_returns_the_known_latents_exactly():
    point = torch.zeros(8, 3)
    known = torch.randn(1, 8, 3, generator=torch.Generator().manual_seed(3)).clamp(-1, 1)
    mask = torch.tensor([True, True, False, False, False, False, True, True])
    out = sample(OracleDenoiser(point), SCHEDULE, (1, 8, 3), torch.Generator().manual_seed(0), steps=10,
                 known=known, mask=mask, resample=2)
    assert torch.equal(out.latents[0, mask], known[0, mask])
    assert torch.allclose(out.latents[0, ~mask], point[~mask], atol=1e-4)


def test_same_generator_seed_gives_identical_samples_and_progress_is_reported():
    model = TransformerDenoiser(DenoiserConfig(data_dims=4, model_dims=16, layers=1, heads=2,
                                               transformer_mlp_dims=16, mlp_dims=16, film_dims=16)).eval()
    seen = []
    first = sample(model, SCHEDULE, (2, 6, 4), torch.Generator().manual_seed(7), "ddpm", 30,
                   callback=lambda done, total, x0: seen.append((done, total)), keep_every=10)
    second = sample(model, SCHEDULE, (2, 6, 4), torch.Generator().manual_seed(7), "ddpm", 30)
    assert torch.equal(first.latents, second.latents)
    assert seen[0] == (1, 30) and seen[-1] == (30, 30)
    assert [t for t, _ in first.intermediates] == [1000, 667, 333, 33]


def test_denoiser_accepts_any_sequence_length():
    model = TransformerDenoiser(DenoiserConfig(data_dims=5, model_dims=16, layers=2, heads=2,
                                               transformer_mlp_dims=32, mlp_dims=32, film_dims=16)).eval()
    for length in (1, 32, 100):
        assert model(torch.randn(3, length, 5), torch.rand(3)).shape == (3, length, 5)


def test_longer_than_training_and_windowed_sampling_have_the_requested_length():
    oracle = OracleDenoiser(torch.zeros(1, 3))  # broadcasts over any length
    g = torch.Generator().manual_seed(0)
    assert sample(oracle, SCHEDULE, (1, 96, 3), g, steps=5).latents.shape == (1, 96, 3)
    long = sample_windowed(oracle, SCHEDULE, length=100, window=32, overlap=8, batch=2, data_dims=3,
                           generator=g, steps=5)
    assert long.shape == (2, 100, 3)
    with pytest.raises(ValueError, match="overlap must lie in 1..31"):
        sample_windowed(oracle, SCHEDULE, 100, 32, 32, 1, 3, g)


def test_sampler_arguments_are_checked():
    oracle = OracleDenoiser(torch.zeros(1, 3))
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample(oracle, SCHEDULE, (1, 4, 3), g, sampler="euler")
    with pytest.raises(ValueError, match="known and mask must be given together"):
        sample(oracle, SCHEDULE, (1, 4, 3), g, known=torch.zeros(1, 4, 3))
