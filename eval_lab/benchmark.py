"""Speed of the hot path, measured on this machine, as ratios.

    python -m eval_lab.benchmark [--model demo/model] [--quality-n 64] [--repeats 3]

Prints, in one run: the denoiser's achieved FLOP/s for one batch-1 and one batch-64 step as
a fraction of this machine's dense float32 matmul peak (measured here too); the end-to-end
latency of a 64-bar sample with audio split into diffusion, VAE decoding and synthesis for
the 1000-step DDPM and the fast sampler; the fast sampler's quality cost (pitch and duration
C and Var of its samples against the 1000-step sampler's, next to those of a second set of
1000-step samples, the noise floor of that comparison at this N); throughput at batch 1, 8 and 64;
peak memory. The last line sums up the main ratios.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from core.audio import render_midi
from core.cli_common import DEFAULT_MODEL_DIR
from core.constants import CHUNKS_PER_WINDOW
from core.pipeline import MelodyPipeline
from core.samplers import sample
from eval_lab.metrics import self_similarity

QUALITY_KEYS = ("pitch_consistency", "pitch_variance", "duration_consistency", "duration_variance")


def best_seconds(work: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` timed runs after one warm-up run."""
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def matmul_peak_flops(size: int = 1024, repeats: int = 5) -> float:
    """Dense float32 matmul FLOP/s of this machine with torch's current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    inner = 8
    seconds = best_seconds(lambda: [a @ b for _ in range(inner)], repeats)
    return 2 * size**3 * inner / seconds


def denoiser_step_flops(pipeline: MelodyPipeline, batch: int, repeats: int) -> tuple[float, float]:
    """(FLOPs of one denoiser call on (batch, 32, D), its best wall time in seconds)."""
    denoiser = pipeline.denoiser
    x = torch.randn(batch, CHUNKS_PER_WINDOW, denoiser.config.data_dims)
    level = torch.full((batch,), 0.5)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            denoiser(x, level)
        seconds = best_seconds(lambda: denoiser(x, level), repeats)
    return float(counter.get_total_flops()), seconds


def latency_split(pipeline: MelodyPipeline, sampler: str, repeats: int) -> dict[str, float]:
    """Best-of-`repeats` seconds of each stage of one 64-bar sample with audio."""
    dims = pipeline.denoiser.config.data_dims
    generator = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    result = pipeline.generate(64, 0, "diffusion", sampler)
    split = {
        "diffusion": best_seconds(
            lambda: sample(pipeline.denoiser, pipeline.schedule, (1, CHUNKS_PER_WINDOW, dims), generator(), sampler),
            repeats),
        "vae_decoding": best_seconds(lambda: pipeline.decode(result.latents), repeats),
        "synthesis": best_seconds(lambda: render_midi(result.midi), repeats),
    }
    split["total"] = sum(split.values())
    return split


def sampled_melodies(pipeline: MelodyPipeline, sampler: str, n: int, seed: int) -> list[np.ndarray]:
    dims = pipeline.denoiser.config.data_dims
    latents = sample(pipeline.denoiser, pipeline.schedule, (n, CHUNKS_PER_WINDOW, dims),
                     torch.Generator().manual_seed(seed), sampler).latents
    return pipeline.decode_melodies(latents)


def throughput(pipeline: MelodyPipeline, batch: int) -> float:
    """64-bar samples per second with the fast sampler and VAE decoding (no audio)."""
    started = time.perf_counter()
    sampled_melodies(pipeline, "fast", batch, 1)
    return batch / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="model directory")
    parser.add_argument("--quality-n", type=int, default=64, help="samples per sampler for the quality cost")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement (best is kept)")
    args = parser.parse_args(argv)
    if args.quality_n < 2 or args.repeats < 1:
        parser.error("--quality-n must be >= 2 and --repeats >= 1")
    pipeline = MelodyPipeline(args.model)
    if pipeline.denoiser is None:
        parser.error(f"{args.model} has no diffusion model")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    peak = matmul_peak_flops()
    print(f"matmul peak (float32, 1024^3): {peak / 1e9:.1f} GFLOP/s")
    fraction_of_peak = {}
    for batch in (1, 64):
        flops, seconds = denoiser_step_flops(pipeline, batch, args.repeats * 3)
        achieved = flops / seconds
        fraction_of_peak[batch] = achieved / peak
        print(f"denoiser step, batch {batch}: {flops / 1e9:.3f} GFLOP in {seconds * 1e3:.2f} ms = "
              f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.1%} of peak")

    splits = {sampler: latency_split(pipeline, sampler, args.repeats) for sampler in ("ddpm", "fast")}
    for sampler, split in splits.items():
        print(f"64 bars with audio, {sampler}: " + ", ".join(f"{k} {v:.3f} s" for k, v in split.items()))
    speedup = splits["ddpm"]["total"] / splits["fast"]["total"]
    print(f"fast vs ddpm end to end: {speedup:.1f}x")

    ddpm = sampled_melodies(pipeline, "ddpm", args.quality_n, 7)
    gaps = {}
    for name, seed, sampler in (("fast sampler", 8, "fast"), ("noise floor: other ddpm samples", 9, "ddpm")):
        quality = self_similarity(sampled_melodies(pipeline, sampler, args.quality_n, seed), ddpm)
        gaps[name] = max(abs(1 - quality[k]) for k in QUALITY_KEYS)
        print(f"{name} against ddpm (n={args.quality_n} each): "
              + ", ".join(f"{k} {quality[k]:.3f}" for k in QUALITY_KEYS) + f"; largest gap from 1: {gaps[name]:.3f}")

    rates = {batch: throughput(pipeline, batch) for batch in (1, 8, 64)}
    print("throughput (fast sampler + VAE decoding, 64-bar samples/s): "
          + ", ".join(f"batch {b}: {r:.2f}" for b, r in rates.items()))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mb:.0f} MB")
    print(f"summary: fast/ddpm speedup {speedup:.1f}x, fast 64 bars with audio {splits['fast']['total']:.2f} s, "
          f"batch-64 step at {fraction_of_peak[64]:.0%} of matmul peak, quality gap {gaps['fast sampler']:.3f} "
          f"(ddpm against itself {gaps['noise floor: other ddpm samples']:.3f}), batch 64 vs 1 throughput "
          f"{rates[64] / rates[1]:.1f}x")


if __name__ == "__main__":
    main()
