"""Specification of the TransformerMDN baseline (core.nets.mdn)."""

import dataclasses
import math

import pytest
import torch

from core.nets.mdn import MDNConfig, Mixture, TransformerMDN, mixture_nll

TINY = MDNConfig(data_dims=3, model_dims=16, layers=2, heads=2, transformer_mlp_dims=32, mlp_dims=32,
                 components=4, dropout=0.0)


def normal_pdf(x, mu, sigma):
    return math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def test_mixture_nll_equals_a_hand_computed_two_component_case():
    # one position, two components over 2 dims, weights softmax([0, ln 3]) = (0.25, 0.75)
    mixture = Mixture(
        logits=torch.tensor([[[0.0, math.log(3.0)]]]),
        means=torch.tensor([[[[0.0, 1.0], [2.0, -1.0]]]]),
        log_sigmas=torch.log(torch.tensor([[[[1.0, 0.5], [2.0, 1.0]]]])),
    )
    x = torch.tensor([[[0.5, 0.0]]])
    density = (0.25 * normal_pdf(0.5, 0.0, 1.0) * normal_pdf(0.0, 1.0, 0.5)
               + 0.75 * normal_pdf(0.5, 2.0, 2.0) * normal_pdf(0.0, -1.0, 1.0))
    assert mixture_nll(mixture, x).item() == pytest.approx(-math.log(density), rel=1e-5)


def test_predictions_are_causal():
    model = TransformerMDN(TINY).eval()
    x = torch.randn(1, 10, 3)
    changed = x.clone()
    changed[:, 6:] += 5.0
    a, b = model(x), model(changed)
    assert torch.allclose(a.means[:, :7], b.means[:, :7], atol=1e-5), "position j sees only latents before j"
    assert not torch.allclose(a.means[:, 7:], b.means[:, 7:], atol=1e-3)


def test_sampling_is_reproducible_and_runs_past_the_window():
    model = TransformerMDN(TINY).eval()
    first = model.sample(2, 40, torch.Generator().manual_seed(0), temperature=0.5, window=8)
    second = model.sample(2, 40, torch.Generator().manual_seed(0), temperature=0.5, window=8)
    assert first.shape == (2, 40, 3)
    assert torch.equal(first, second)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.sample(1, 2, torch.Generator(), temperature=0)


def test_padded_positions_leave_the_real_positions_of_the_mdn_unchanged():
    torch.manual_seed(0)
    model = TransformerMDN(MDNConfig(data_dims=3, model_dims=16, layers=2, heads=2, transformer_mlp_dims=32,
                                     mlp_dims=32, components=4, dropout=0.0, styles="folk,chorale")).eval()
    x, style = torch.randn(2, 7, 3), torch.tensor([2, 0])
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[0, 3:] = True  # row 0 is 3 latents long
    changed = x.clone()
    changed[0, 3:] = 10 * torch.randn(4, 3)
    with torch.no_grad():
        padded, repadded = model(x, padding, style), model(changed, padding, style)
        alone = model(x[:1, :3], None, style[:1])
    for name in ("logits", "means", "log_sigmas"):
        assert torch.equal(getattr(padded, name)[0, :3], getattr(repadded, name)[0, :3])
        assert torch.allclose(getattr(padded, name)[0, :3], getattr(alone, name)[0], atol=1e-5)
        assert torch.equal(getattr(padded, name)[1], getattr(repadded, name)[1])


def test_the_mdn_samples_with_and_without_a_style_label():
    model = TransformerMDN(MDNConfig(data_dims=3, model_dims=16, layers=1, heads=2, transformer_mlp_dims=32,
                                     mlp_dims=32, components=4, styles="folk")).eval()
    styled = model.sample(1, 4, torch.Generator().manual_seed(0), style=torch.tensor([1]))
    free = model.sample(1, 4, torch.Generator().manual_seed(0))
    assert styled.shape == free.shape == (1, 4, 3)
    assert not torch.equal(styled, free)


def test_with_tune_positions_each_latent_is_drawn_knowing_how_far_the_tune_has_to_go():
    torch.manual_seed(0)
    model = TransformerMDN(dataclasses.replace(TINY, tune_positions=True)).eval()
    short = model.sample(1, 3, torch.Generator().manual_seed(0))
    long = model.sample(1, 6, torch.Generator().manual_seed(0))
    assert not torch.allclose(short[:, 0], long[:, 0]), "the first latent of a 3-latent tune is not that of a 6-latent one"
    x = torch.randn(1, 4, 3)
    inside = torch.tensor([[[j + 2, 9 - j] for j in range(4)]])
    assert not torch.allclose(model(x).means, model(x, positions=inside).means)
