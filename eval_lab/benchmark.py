"""Speed of the hot path, and what the fast samplers cost in quality, measured on this machine.

    python -m eval_lab.benchmark [--model demo/model] [--quality-n 64] [--repeats 3]

Prints, in one run: the denoiser's achieved FLOP/s for one batch-1 and one batch-64 step as
a fraction of this machine's dense float32 matmul peak (measured here too); the end-to-end
latency of a 64-bar sample with audio split into diffusion, VAE decoding and synthesis for
the 1000-step DDPM and the fast sampler; the time to make that melody anew at another tempo
and instrument without sampling (MIDI, ABC, MusicXML and audio, as the app does when they
change) as a share of generating it; the quality sweep, one line per fast sampler and
step count,
    sampler=<name> steps=<n> quality_gap=<x> noise_floor=<y> seconds=<s>
where quality_gap is the largest distance from 1 of pitch and duration C and Var of its
samples against 1000-step DDPM samples, noise_floor the same for a second, independent set
of 1000-step DDPM samples (what chance alone gives at this N), and seconds the wall time of
sampling and VAE decoding one 64-bar sample; throughput at batch 1, 8 and 64; peak memory.
The last line sums up the main ratios. At --quality-n 64 the gap of one sampler moves by
about 0.02-0.07 (standard deviation) between seeds of its samples: rank samplers at 256 or more.
"""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from core.audio import render_midi
from core.bundle import DEFAULT_MODEL_DIR
from core.diffusion.samplers import FAST_SAMPLER, default_steps
from core.limits import MAX_SEEDS_PER_REQUEST
from core.music.constants import CHUNKS_PER_WINDOW
from core.music.midi_io import melody_to_pretty_midi
from core.music.notation import abc_text, musicxml_text
from core.pipeline import Drawn, MelodyPipeline, MelodyResult
from core.requests import GenerationRequest, SamplingOptions
from eval_lab.metrics import self_similarity

QUALITY_KEYS = ("pitch_consistency", "pitch_variance", "duration_consistency", "duration_variance")
SWEEP = (("ddim", (10, 20, 50)), ("dpmpp_2m", (10, 15, 20, 25)))  # (sampler, step counts) of the quality sweep
REFERENCE_SEED, FLOOR_SEED, SWEEP_SEED = 7, 9, 8


@dataclass(frozen=True)
class SweepPoint:
    sampler: str
    steps: int
    quality_gap: float  # largest |1 - C or Var| against the 1000-step DDPM reference
    noise_floor: float  # the same for other 1000-step DDPM samples
    seconds: float  # sampling + VAE decoding of one 64-bar sample

    def __str__(self) -> str:
        return (f"sampler={self.sampler} steps={self.steps} quality_gap={self.quality_gap:.3f} "
                f"noise_floor={self.noise_floor:.3f} seconds={self.seconds:.3f}")


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


def one_melody_with_audio(pipeline: MelodyPipeline, sampler: str) -> MelodyResult:
    """The pipeline's own 64-bar generation (seed 0), the one call that depends on its request API."""
    return pipeline.generate(GenerationRequest.of(bars=64, seeds=(0,), model="diffusion", sampler=sampler))[0]


def sample_latents(pipeline: MelodyPipeline, sampler: str, n: int, seed: int, steps: int | None = None) -> Drawn:
    """(n, 32, D) normalized latents of 64 bars each from `sampler` (its default steps where None), with
    their outlines, through the pipeline in batches of at most MAX_SEEDS_PER_REQUEST seeds (seed * 100_000 + i)."""
    seeds = [seed * 100_000 + index for index in range(n)]
    batches = []
    for start in range(0, n, MAX_SEEDS_PER_REQUEST):
        options = SamplingOptions(seeds=tuple(seeds[start : start + MAX_SEEDS_PER_REQUEST]), sampler=sampler,
                                  steps=steps)
        latents, _, _, outlines = pipeline.sample_latents(options, CHUNKS_PER_WINDOW)
        batches.append(Drawn(latents, outlines))
    return Drawn.concatenate(batches)


def sampled_melodies(pipeline: MelodyPipeline, sampler: str, n: int, seed: int,
                     steps: int | None = None) -> list[np.ndarray]:
    drawn = sample_latents(pipeline, sampler, n, seed, steps)
    return pipeline.decode_melodies(drawn.latents, pipeline.sampled_noise_level, drawn.outlines)


def latency_split(pipeline: MelodyPipeline, sampler: str, repeats: int) -> dict[str, float]:
    """Best-of-`repeats` seconds of each stage of one 64-bar sample with audio."""
    result = one_melody_with_audio(pipeline, sampler)
    split = {
        "diffusion": best_seconds(lambda: sample_latents(pipeline, sampler, 1, 0), repeats),
        "vae_decoding": best_seconds(lambda: pipeline.decode(result.latents), repeats),
        "synthesis": best_seconds(lambda: render_midi(result.midi), repeats),
    }
    split["total"] = sum(split.values())
    return split


def rerender_seconds(pipeline: MelodyPipeline, repeats: int) -> float:
    """Best-of-`repeats` seconds to make a 64-bar result anew at another tempo and instrument without
    sampling it again (what the app does when Tempo or Instrument change): MIDI, ABC, MusicXML, audio."""
    melody = one_melody_with_audio(pipeline, "fast").melody

    def rerender() -> None:
        midi = melody_to_pretty_midi(melody, tempo_bpm=90, program=40)
        abc_text(melody, tempo_bpm=90)
        musicxml_text(melody, tempo_bpm=90)
        render_midi(midi)

    return best_seconds(rerender, repeats)


def quality_gap(melodies: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """The largest distance from 1 of pitch and duration C and Var of `melodies` against `reference`."""
    quality = self_similarity(melodies, reference)
    return max(abs(1 - quality[key]) for key in QUALITY_KEYS)


def quality_sweep(pipeline: MelodyPipeline, n: int, repeats: int,
                  sweep: Sequence[tuple[str, Sequence[int]]] = SWEEP,
                  reference_steps: int | None = None) -> Iterator[SweepPoint]:
    """One SweepPoint per (sampler, steps) of `sweep`, each from `n` samples, as they are measured.

    The reference and the noise floor come from DDPM with `reference_steps` (None: all 1000).
    """
    reference = sampled_melodies(pipeline, "ddpm", n, REFERENCE_SEED, reference_steps)
    noise_floor = quality_gap(sampled_melodies(pipeline, "ddpm", n, FLOOR_SEED, reference_steps), reference)
    for sampler, step_counts in sweep:
        for steps in step_counts:
            gap = quality_gap(sampled_melodies(pipeline, sampler, n, SWEEP_SEED, steps), reference)
            seconds = best_seconds(lambda: sampled_melodies(pipeline, sampler, 1, 0, steps), repeats)
            yield SweepPoint(sampler, steps, gap, noise_floor, seconds)


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
    rerender = rerender_seconds(pipeline, args.repeats)
    print(f"64 bars made anew at another tempo and instrument (MIDI, ABC, MusicXML, audio; no sampling): "
          f"{rerender:.3f} s = {rerender / splits['fast']['total']:.2f} of generating with the fast sampler")

    points = []
    for point in quality_sweep(pipeline, args.quality_n, args.repeats):
        print(point, flush=True)
        points.append(point)
    fast = next(p for p in points if (p.sampler, p.steps) == (FAST_SAMPLER, default_steps("fast", pipeline.schedule)))

    rates = {batch: throughput(pipeline, batch) for batch in (1, 8, 64)}
    print("throughput (fast sampler + VAE decoding, 64-bar samples/s): "
          + ", ".join(f"batch {b}: {r:.2f}" for b, r in rates.items()))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mb:.0f} MB")
    print(f"summary: fast/ddpm speedup {speedup:.1f}x, fast 64 bars with audio {splits['fast']['total']:.2f} s, "
          f"batch-64 step at {fraction_of_peak[64]:.0%} of matmul peak, fast = {FAST_SAMPLER}-{fast.steps} quality gap "
          f"{fast.quality_gap:.3f} (ddpm against itself {fast.noise_floor:.3f}), batch 64 vs 1 throughput "
          f"{rates[64] / rates[1]:.1f}x")


if __name__ == "__main__":
    main()
