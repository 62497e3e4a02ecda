"""Specification of the noise schedule and the denoiser network (the samplers: test_samplers.py)."""

import pytest
import torch

from core.diffusion.schedule import NoiseSchedule
from core.nets.denoiser import DenoiserConfig, GuidedDenoiser, TransformerDenoiser
from core.nets.transformer import whole_tune_positions

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


STYLED = DenoiserConfig(data_dims=4, model_dims=16, layers=2, heads=2, transformer_mlp_dims=32, mlp_dims=16,
                        film_dims=16, dropout=0.0, styles="folk,renaissance")


def test_padded_positions_leave_the_real_positions_of_the_denoiser_unchanged():
    torch.manual_seed(0)
    model = TransformerDenoiser(STYLED).eval()
    x, level, style = torch.randn(2, 6, 4), torch.rand(2), torch.tensor([1, 2])
    padding = torch.zeros(2, 6, dtype=torch.bool)
    padding[0, 4:] = True  # row 0 is 4 latents long
    changed = x.clone()
    changed[0, 4:] = 10 * torch.randn(2, 4)
    with torch.no_grad():
        padded, repadded = model(x, level, padding, style), model(changed, level, padding, style)
        alone = model(x[:1, :4], level[:1], None, style[:1])
    assert torch.equal(padded[0, :4], repadded[0, :4])
    assert torch.allclose(padded[0, :4], alone[0], atol=1e-5), "padding = the short sequence on its own"
    assert torch.equal(padded[1], repadded[1])


def test_the_style_label_changes_the_prediction_and_no_style_is_label_zero():
    torch.manual_seed(0)
    model = TransformerDenoiser(STYLED).eval()
    x, level = torch.randn(1, 5, 4), torch.rand(1)
    with torch.no_grad():
        folk, renaissance = model(x, level, style=torch.tensor([1])), model(x, level, style=torch.tensor([2]))
        assert not torch.allclose(folk, renaissance, atol=1e-4)
        assert torch.equal(model(x, level), model(x, level, style=torch.tensor([0])))
    assert STYLED.style_index("renaissance") == 2 and STYLED.style_index("any") == 0
    with pytest.raises(ValueError, match="Style must be one of: folk, renaissance, any"):
        STYLED.style_index("jazz")


def test_classifier_free_guidance_mixes_the_unconditional_and_the_conditional_prediction():
    torch.manual_seed(0)
    model = TransformerDenoiser(STYLED).eval()
    x, level, style = torch.randn(2, 5, 4), torch.rand(2), torch.tensor([1, 0])  # row 1: "any"
    with torch.no_grad():
        free, styled = model(x, level, style=torch.zeros(2, dtype=torch.long)), model(x, level, style=style)
        assert torch.equal(GuidedDenoiser(model, style, 0.0)(x, level), free)
        assert torch.equal(GuidedDenoiser(model, style, 1.0)(x, level), styled)
        guided = GuidedDenoiser(model, style, 3.0)(x, level)
    assert torch.allclose(guided[0], free[0] + 3.0 * (styled[0] - free[0]), atol=1e-5)
    assert torch.allclose(guided[1], free[1], atol=1e-5), "a row without a style stays unconditional"
    with pytest.raises(ValueError, match="guidance must be >= 0"):
        GuidedDenoiser(model, style, -1.0)


def test_a_model_without_labels_refuses_a_style():
    model = TransformerDenoiser(DenoiserConfig(data_dims=4, model_dims=16, layers=1, heads=2,
                                               transformer_mlp_dims=32, mlp_dims=16, film_dims=16)).eval()
    x = torch.randn(1, 3, 4)
    assert model(x, torch.rand(1), style=torch.tensor([0])).shape == (1, 3, 4)
    with pytest.raises(ValueError, match="trained without style labels"):
        model(x, torch.rand(1), style=torch.tensor([1]))


def test_a_model_with_tune_positions_hears_where_a_span_stands_and_defaults_to_a_whole_tune():
    torch.manual_seed(0)
    model = TransformerDenoiser(DenoiserConfig(data_dims=3, model_dims=16, layers=1, heads=2, transformer_mlp_dims=16,
                                               mlp_dims=16, film_dims=8, dropout=0.0, tune_positions=True)).eval()
    x, level = torch.randn(1, 5, 3), torch.tensor([0.5])
    whole = torch.tensor([[[j, 4 - j] for j in range(5)]])
    middle = torch.tensor([[[j + 3, 20 - j] for j in range(5)]])  # the same 5 latents cut from a longer tune
    with torch.no_grad():
        assert torch.equal(model(x, level), model(x, level, positions=whole))
        assert not torch.allclose(model(x, level, positions=whole), model(x, level, positions=middle))
        far = torch.tensor([[[j + 40, j + 50] for j in range(5)]])  # beyond the classes: the "far" embedding
        assert torch.equal(model(x, level, positions=far), model(x, level, positions=far + 100))


def test_positions_of_padded_whole_tunes_count_from_each_tunes_own_end():
    padding = torch.tensor([[False, False, False], [False, False, True]])
    positions = whole_tune_positions(padding, 2, 3, padding.device)
    assert positions.tolist() == [[[0, 2], [1, 1], [2, 0]], [[0, 1], [1, 0], [2, 0]]]


def test_a_placed_guided_denoiser_tells_the_model_where_its_window_stands():
    torch.manual_seed(0)
    model = TransformerDenoiser(DenoiserConfig(data_dims=3, model_dims=16, layers=1, heads=2, transformer_mlp_dims=16,
                                               mlp_dims=16, film_dims=8, dropout=0.0, tune_positions=True)).eval()
    x, level = torch.randn(2, 4, 3), torch.tensor([0.5, 0.5])
    guided = GuidedDenoiser(model, torch.zeros(2, dtype=torch.long), 0.0)
    middle = torch.tensor([[[j + 6, 7 - j] for j in range(4)]] * 2)  # latents 6-9 of a 14-latent tune
    with torch.no_grad():
        assert torch.equal(guided(x, level), model(x, level))
        assert torch.equal(guided.placed(6, 14)(x, level), model(x, level, positions=middle))
