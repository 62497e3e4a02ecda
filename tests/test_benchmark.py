"""The benchmark's measurements (eval_lab.benchmark) on the committed demo model."""

import re

import pytest

from core.diffusion.samplers import FAST_SAMPLER, default_steps
from eval_lab.benchmark import (
    SWEEP,
    SweepPoint,
    denoiser_step_flops,
    latency_split,
    quality_gap,
    quality_sweep,
    rerender_seconds,
    sampled_melodies,
)

pytestmark = pytest.mark.slow  # times the committed models


@pytest.fixture(scope="module")
def pipeline(committed_pipeline):
    return committed_pipeline


def test_denoiser_flops_grow_linearly_with_the_batch(pipeline):
    one, one_seconds = denoiser_step_flops(pipeline, 1, repeats=1)
    four, _ = denoiser_step_flops(pipeline, 4, repeats=1)
    config = pipeline.denoiser.config
    assert one > 2 * 32 * config.data_dims * config.model_dims, "at least the input projection is counted"
    assert four == pytest.approx(4 * one, rel=1e-6) and one_seconds > 0


def test_a_result_is_made_anew_without_sampling_in_measured_time(pipeline, monkeypatch):
    calls = []
    sample = pipeline.sample_latents
    monkeypatch.setattr(pipeline, "sample_latents", lambda *a, **k: calls.append(1) or sample(*a, **k))
    assert rerender_seconds(pipeline, repeats=2) > 0
    assert len(calls) == 1, "the melody is sampled once, then only rendered"


def test_latency_split_covers_the_three_stages_and_sums_them(pipeline):
    split = latency_split(pipeline, "fast", repeats=1)
    assert set(split) == {"diffusion", "vae_decoding", "synthesis", "total"}
    assert all(seconds > 0 for seconds in split.values())
    assert split["total"] == pytest.approx(split["diffusion"] + split["vae_decoding"] + split["synthesis"])


def test_quality_gap_is_zero_against_the_same_melodies(pipeline):
    melodies = sampled_melodies(pipeline, "dpmpp_2m", 3, 0, steps=5)
    other = sampled_melodies(pipeline, "ddim", 3, 1, steps=2)
    assert quality_gap(melodies, melodies) == 0.0
    assert 0.0 < quality_gap(other, melodies) <= 1.0


def test_quality_sweep_prints_one_line_per_sampler_and_step_count(pipeline):
    sweep = (("ddim", (2,)), ("dpmpp_2m", (3,)))
    points = list(quality_sweep(pipeline, n=2, repeats=1, sweep=sweep, reference_steps=10))
    assert [(p.sampler, p.steps) for p in points] == [("ddim", 2), ("dpmpp_2m", 3)]
    assert len({p.noise_floor for p in points}) == 1 and all(p.seconds > 0 for p in points)
    assert all(0.0 <= p.quality_gap <= 1.0 for p in points)
    line = r"sampler=dpmpp_2m steps=3 quality_gap=\d\.\d{3} noise_floor=\d\.\d{3} seconds=\d+\.\d{3}"
    assert re.fullmatch(line, str(points[-1]))
    assert str(SweepPoint("ddim", 50, 0.1164, 0.0441, 1.5)) == \
        "sampler=ddim steps=50 quality_gap=0.116 noise_floor=0.044 seconds=1.500"


def test_the_sweep_measures_the_fast_sampler_at_its_default_steps(pipeline):
    assert default_steps("fast", pipeline.schedule) in dict(SWEEP)[FAST_SAMPLER]
