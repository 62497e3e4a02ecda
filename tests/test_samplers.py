"""Specification of the samplers (DDPM, DDIM, DPM-Solver++(2M)), infilling and windowed sampling."""

import pytest
import torch
from torch import nn

from core.diffusion.samplers import (
    FAST_SAMPLER,
    SAMPLER_NAMES,
    SAMPLERS,
    SampleResult,
    SamplerProgress,
    default_steps,
    get_sampler,
    infill,
    initial_noise,
    sample_ddim,
    sample_ddpm,
    sample_dpmpp_2m,
    sample_windowed,
)
from core.diffusion.schedule import NoiseSchedule
from core.nets.mdn import MDNConfig, TransformerMDN
from core.noise import multinomial, randn, seeded_generators

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


class GaussianDenoiser(nn.Module):
    """The exact eps for data x0 ~ N(m, s^2) in every coordinate:
    eps*(x_t) = E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) m) / (a s^2 + 1 - a)."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.mean, self.std = mean, std
        self.unused = nn.Parameter(torch.zeros(1), requires_grad=False)  # gives the model a device

    def forward(self, x, noise_level):
        a = noise_level.double().square()[:, None, None]
        return ((1 - a).sqrt() * (x.double() - a.sqrt() * self.mean) / (a * self.std**2 + 1 - a)).float()

    def exact_ode_solution(self, x_T: torch.Tensor) -> torch.Tensor:
        """The diffusion ODE maps x_T at level a_T to m + s (x_T - sqrt(a_T) m) / sqrt(a_T s^2 + 1 - a_T)."""
        a = SCHEDULE.alpha_bars[-1].double()
        return self.mean + self.std * (x_T.double() - a.sqrt() * self.mean) / (a * self.std**2 + 1 - a).sqrt()


class MixingDenoiser(nn.Module):
    """A tiny fixed random eps-model whose x0 estimate 0.5 tanh(...) mixes all positions."""

    def __init__(self, dims: int = 3, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.own = nn.Parameter(torch.randn(dims, dims, generator=g) / dims**0.5, requires_grad=False)
        self.mixed = nn.Parameter(torch.randn(dims, dims, generator=g) / dims**0.5, requires_grad=False)
        self.bias = nn.Parameter(torch.randn(dims, generator=g), requires_grad=False)

    def forward(self, x, noise_level):
        a = noise_level.square()[:, None, None]
        context = x.mean(dim=1, keepdim=True) @ self.mixed
        x0 = 0.5 * torch.tanh(x @ self.own + context + a * self.bias)  # in (-0.5, 0.5): never clipped
        return (x - a.sqrt() * x0) / (1 - a).sqrt()


def run(name, model, shape, seed, steps=None, **options) -> SampleResult:
    generator = torch.Generator().manual_seed(seed)
    return get_sampler(name)(model, SCHEDULE, initial_noise(shape, generator, "cpu"), generator, steps, **options)


# -- every sampler ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, steps", [("ddpm", None), ("ddpm", 100), ("ddim", 20), ("dpmpp_2m", 20),
                                         ("dpmpp_2m", 1), ("fast", 5)])
def test_samplers_with_an_oracle_return_the_single_data_point(name, steps):
    point = torch.linspace(-0.9, 0.9, 24).reshape(8, 3)
    oracle = OracleDenoiser(point)
    out = run(name, oracle, (2, 8, 3), 0, steps)
    assert torch.allclose(out.latents, point.expand(2, 8, 3), atol=1e-4)
    assert oracle.calls == (steps or default_steps(name, SCHEDULE))


@pytest.mark.parametrize("name", SAMPLERS)
def test_samplers_are_pure_functions_of_noise_and_generator(name):
    model = MixingDenoiser()
    first, second = run(name, model, (2, 6, 3), 7, 30), run(name, model, (2, 6, 3), 7, 30)
    other = run(name, model, (2, 6, 3), 8, 30)
    assert torch.equal(first.latents, second.latents)
    assert (first.latents - other.latents).abs().max() > 0.01


def test_only_ddpm_draws_noise_after_x_T():
    model, noise = MixingDenoiser(), initial_noise((2, 6, 3), torch.Generator().manual_seed(0), "cpu")
    for sampler, stochastic in ((sample_ddpm, True), (sample_ddim, False), (sample_dpmpp_2m, False)):
        one = sampler(model, SCHEDULE, noise, torch.Generator().manual_seed(1), 10).latents
        two = sampler(model, SCHEDULE, noise, torch.Generator().manual_seed(2), 10).latents
        assert torch.equal(one, two) != stochastic


def test_one_generator_per_row_gives_each_row_what_it_gets_alone():
    model = MixingDenoiser()
    rows = [torch.Generator().manual_seed(seed) for seed in (3, 4)]
    together = sample_ddpm(model, SCHEDULE, initial_noise((2, 6, 3), rows, "cpu"), rows, 20).latents
    for row, seed in enumerate((3, 4)):
        alone = run("ddpm", model, (1, 6, 3), seed, 20).latents
        assert torch.allclose(together[row], alone[0], atol=1e-6)


# -- DDPM and DDIM keep the results of the single sample() they replace --------------------------


def test_ddpm_and_ddim_reproduce_the_previous_sampler():
    """Values from the sample() these functions replaced (same generator, same draws in the same order)."""
    model = MixingDenoiser()
    ddpm = run("ddpm", model, (2, 4, 3), 0).latents
    ddim = run("ddim", model, (2, 4, 3), 0).latents
    expected = {
        (ddpm, 0, 0): [-0.36520654, -0.42535344, 0.43223986], (ddpm, 1, 3): [-0.36527210, -0.42517033, 0.43216246],
        (ddim, 0, 0): [-0.38384044, -0.41886184, 0.44196960], (ddim, 1, 3): [-0.38995665, -0.42337126, 0.44532424],
    }
    for (latents, b, k), values in expected.items():
        assert latents[b, k].tolist() == pytest.approx(values, abs=1e-6)


def test_infilling_and_windowed_sampling_reproduce_the_previous_sampler():
    model = MixingDenoiser()
    known = torch.linspace(-0.8, 0.8, 12).reshape(1, 4, 3).expand(2, 4, 3)
    mask = torch.tensor([True, False, False, True])
    g = torch.Generator().manual_seed(1)
    ddpm = infill(sample_ddpm, model, SCHEDULE, initial_noise((2, 4, 3), g, "cpu"), known, mask, g, 100).latents
    g = torch.Generator().manual_seed(1)
    ddim = infill(sample_ddim, model, SCHEDULE, initial_noise((2, 4, 3), g, "cpu"), known, mask, g, 10,
                  resample=2).latents
    long = sample_windowed(sample_ddim, model, SCHEDULE, 10, 4, 2, 2, 3, torch.Generator().manual_seed(2), 10)
    expected = {
        (ddpm, 0, 1): [-0.40045163, -0.40044612, 0.41552767], (ddpm, 1, 2): [-0.39911085, -0.40342712, 0.41139635],
        (ddim, 0, 1): [-0.41191313, -0.37439314, 0.43302128], (ddim, 1, 2): [-0.30950910, -0.37390155, 0.24888331],
        (long, 0, 9): [-0.21203494, -0.43161201, 0.32599208], (long, 1, 5): [-0.21622567, -0.45501280, 0.28599921],
    }
    for (latents, b, k), values in expected.items():
        assert latents[b, k].tolist() == pytest.approx(values, abs=1e-6)


# -- DPM-Solver++(2M) ------------------------------------------------------------------------


def test_dpmpp_2m_solves_the_diffusion_ode_of_gaussian_data():
    model = GaussianDenoiser(mean=0.2, std=0.15)
    noise = initial_noise((4000, 1, 1), torch.Generator().manual_seed(0), "cpu")
    exact = model.exact_ode_solution(noise)
    error = {(sampler, steps): (sampler(model, SCHEDULE, noise, torch.Generator(), steps).latents - exact)
             .square().mean().sqrt().item()
             for sampler in (sample_ddim, sample_dpmpp_2m) for steps in (20, 50, 200)}
    for steps in (20, 50, 200):
        assert error[sample_dpmpp_2m, steps] < 0.8 * error[sample_ddim, steps], "second order beats first order"
    assert error[sample_dpmpp_2m, 200] < 0.002 and error[sample_dpmpp_2m, 50] < 0.005
    samples = sample_dpmpp_2m(model, SCHEDULE, noise, torch.Generator(), 200).latents
    assert samples.mean().item() == pytest.approx(0.2, abs=0.01)
    assert samples.std().item() == pytest.approx(0.15, rel=0.02)


def test_dpmpp_2m_first_step_is_ddim():
    """Two steps are one first-order step (DPM-Solver++(1) is DDIM) and the final x0 estimate."""
    model, noise = MixingDenoiser(), initial_noise((2, 6, 3), torch.Generator().manual_seed(0), "cpu")
    ddim = sample_ddim(model, SCHEDULE, noise, torch.Generator(), 2).latents
    assert torch.allclose(sample_dpmpp_2m(model, SCHEDULE, noise, torch.Generator(), 2).latents, ddim, atol=1e-5)
    assert not torch.allclose(sample_dpmpp_2m(model, SCHEDULE, noise, torch.Generator(), 3).latents,
                              sample_ddim(model, SCHEDULE, noise, torch.Generator(), 3).latents, atol=1e-3)


# -- infilling and long sequences ------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("resample", [0, 2])
def test_infilling_returns_the_known_latents_exactly(name, resample):
    point = torch.zeros(8, 3)
    known = torch.randn(2, 8, 3, generator=torch.Generator().manual_seed(3)).clamp(-1, 1)
    mask = torch.tensor([[True, True, False, False, False, False, True, True],
                         [False, False, False, True, True, True, False, False]])
    g = torch.Generator().manual_seed(0)
    out = infill(SAMPLERS[name], OracleDenoiser(point), SCHEDULE, initial_noise((2, 8, 3), g, "cpu"), known, mask, g,
                 steps=10, resample=resample).latents
    assert torch.equal(out[mask], known[mask])
    assert torch.allclose(out[~mask], torch.zeros(1, 3), atol=1e-4)


def test_infilling_pulls_the_free_region_towards_the_known_one():
    model = MixingDenoiser()
    mask = torch.tensor([True, True, False, False])
    free = run("dpmpp_2m", model, (1, 4, 3), 0).latents
    for level in (-0.9, 0.9):
        g = torch.Generator().manual_seed(0)
        known = torch.full((1, 4, 3), level)
        filled = infill(sample_dpmpp_2m, model, SCHEDULE, initial_noise((1, 4, 3), g, "cpu"), known, mask, g).latents
        assert (filled[0, 2:] - free[0, 2:]).abs().max() > 0.01


def test_longer_than_training_and_windowed_sampling_have_the_requested_length():
    oracle = OracleDenoiser(torch.zeros(1, 3))  # broadcasts over any length
    assert run("dpmpp_2m", oracle, (1, 96, 3), 0, 5).latents.shape == (1, 96, 3)
    long = sample_windowed(sample_ddim, oracle, SCHEDULE, length=100, window=32, overlap=8, batch=2, data_dims=3,
                           generator=torch.Generator().manual_seed(0), steps=5)
    assert long.shape == (2, 100, 3)


def test_the_first_window_is_a_free_sample_and_the_next_ones_continue_it():
    model = MixingDenoiser()
    long = sample_windowed(sample_dpmpp_2m, model, SCHEDULE, 10, 4, 2, 2, 3, torch.Generator().manual_seed(5))
    assert torch.equal(long[:, :4], run("dpmpp_2m", model, (2, 4, 3), 5).latents)


# -- progress ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_reports_progress_and_keeps_intermediates(name):
    seen = []
    out = run(name, MixingDenoiser(), (2, 6, 3), 7, 30, callback=seen.append, keep_every=10)
    assert [(p.done, p.total) for p in seen] == [(i, 30) for i in range(1, 31)]
    assert all(isinstance(p, SamplerProgress) and p.x0.shape == (2, 6, 3) for p in seen)
    assert torch.equal(seen[-1].x0, out.intermediates[-1][1])
    assert [t for t, _ in out.intermediates] == [1000, 667, 333, 33]


def test_infilling_windowed_sampling_and_the_mdn_report_progress():
    model, mask = MixingDenoiser(), torch.tensor([True, False, False, False])
    seen = []
    g = torch.Generator().manual_seed(0)
    infill(sample_ddim, model, SCHEDULE, initial_noise((1, 4, 3), g, "cpu"), torch.zeros(1, 4, 3), mask, g, 5,
           resample=1, callback=seen.append)
    assert [(p.done, p.total) for p in seen] == [(i, 5) for i in range(1, 6)]
    seen = []
    sample_windowed(sample_dpmpp_2m, model, SCHEDULE, 10, 4, 1, 2, 3, torch.Generator().manual_seed(0), 3,
                    callback=seen.append)
    assert [(p.done, p.total, p.x0.shape[1]) for p in seen] == [(1, 3, 4), (2, 3, 7), (3, 3, 10)]
    seen = []
    mdn = TransformerMDN(MDNConfig(data_dims=3, model_dims=16, layers=1, heads=2, transformer_mlp_dims=16,
                                   mlp_dims=16, components=2)).eval()
    mdn.sample(2, 5, torch.Generator().manual_seed(0), callback=seen.append)
    assert seen == [SamplerProgress(i, 5, None) for i in range(1, 6)]


# -- names, defaults and argument checks -----------------------------------------------------


def test_sampler_names_and_default_steps():
    assert SAMPLER_NAMES == ("ddpm", "ddim", "dpmpp_2m", "fast")
    assert get_sampler("ddim") is sample_ddim and get_sampler("fast") is SAMPLERS[FAST_SAMPLER]
    assert [default_steps(name, SCHEDULE) for name in ("ddpm", "ddim", "dpmpp_2m")] == [1000, 50, 20]
    assert default_steps("fast", SCHEDULE) == default_steps(FAST_SAMPLER, SCHEDULE)
    with pytest.raises(ValueError, match="sampler must be one of ddpm, ddim, dpmpp_2m, fast, got 'euler'"):
        get_sampler("euler")
    with pytest.raises(ValueError, match="sampler must be one of"):
        default_steps("euler", SCHEDULE)


def test_sampler_arguments_are_checked():
    oracle, g = OracleDenoiser(torch.zeros(1, 3)), torch.Generator()
    noise = torch.zeros(2, 4, 3)
    with pytest.raises(ValueError, match="steps must lie in 1..1000, got 0"):
        sample_dpmpp_2m(oracle, SCHEDULE, noise, g, 0)
    with pytest.raises(ValueError, match="keep_every must be >= 0"):
        sample_ddim(oracle, SCHEDULE, noise, g, keep_every=-1)
    with pytest.raises(ValueError, match=r"known must have the shape of noise \(2, 4, 3\), got \(1, 4, 3\)"):
        infill(sample_ddim, oracle, SCHEDULE, noise, torch.zeros(1, 4, 3), torch.ones(4, dtype=torch.bool), g)
    with pytest.raises(ValueError, match=r"mask must have shape \(4,\) or \(2, 4\), got \(5,\)"):
        infill(sample_ddim, oracle, SCHEDULE, noise, noise, torch.ones(5, dtype=torch.bool), g)
    with pytest.raises(ValueError, match="resample must be >= 0, got -1"):
        infill(sample_ddim, oracle, SCHEDULE, noise, noise, torch.ones(4, dtype=torch.bool), g, resample=-1)
    with pytest.raises(ValueError, match="overlap must lie in 1..31"):
        sample_windowed(sample_ddim, oracle, SCHEDULE, 100, 32, 32, 1, 3, g)
    with pytest.raises(ValueError, match="length 20 is shorter than the window 32"):
        sample_windowed(sample_ddim, oracle, SCHEDULE, 20, 32, 8, 1, 3, g)


def test_per_row_generators_make_each_row_independent_of_its_batch():
    alone = randn((1, 3, 2), seeded_generators([7]))
    batch = randn((3, 3, 2), seeded_generators([5, 7, 9]))
    assert torch.equal(batch[1], alone[0])
    probabilities = torch.tensor([[0.2, 0.8], [0.5, 0.5]])
    assert torch.equal(multinomial(probabilities[1:], seeded_generators([4])),
                       multinomial(probabilities, seeded_generators([3, 4]))[1:])
    with pytest.raises(ValueError, match="got 2 generators for a batch of 3 rows"):
        randn((3, 2), seeded_generators([1, 2]))
