"""The benchmark's measurements (eval_lab.benchmark) on the committed demo model."""

import pytest

from core.pipeline import MelodyPipeline
from eval_lab.benchmark import denoiser_step_flops, latency_split


@pytest.fixture(scope="module")
def pipeline():
    return MelodyPipeline("demo/model")


def test_denoiser_flops_grow_linearly_with_the_batch(pipeline):
    one, one_seconds = denoiser_step_flops(pipeline, 1, repeats=1)
    four, _ = denoiser_step_flops(pipeline, 4, repeats=1)
    config = pipeline.denoiser.config
    assert one > 2 * 32 * config.data_dims * config.model_dims, "at least the input projection is counted"
    assert four == pytest.approx(4 * one, rel=1e-6) and one_seconds > 0


def test_latency_split_covers_the_three_stages_and_sums_them(pipeline):
    split = latency_split(pipeline, "fast", repeats=1)
    assert set(split) == {"diffusion", "vae_decoding", "synthesis", "total"}
    assert all(seconds > 0 for seconds in split.values())
    assert split["total"] == pytest.approx(split["diffusion"] + split["vae_decoding"] + split["synthesis"])
