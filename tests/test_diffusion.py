"""Specification of the noise schedule and the denoiser network (the samplers: test_samplers.py)."""

import pytest
import torch

from core.denoiser import DenoiserConfig, TransformerDenoiser
from core.schedule import NoiseSchedule

SCHEDULE = NoiseSchedule.linear()


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


def test_denoiser_accepts_any_sequence_length():
    model = TransformerDenoiser(DenoiserConfig(data_dims=5, model_dims=16, layers=2, heads=2,
                                               transformer_mlp_dims=32, mlp_dims=32, film_dims=16)).eval()
    for length in (1, 32, 100):
        assert model(torch.randn(3, length, 5), torch.rand(3)).shape == (3, length, 5)
