"""How exactly must a sequence model place a latent? Held-out latents moved off the data, decoded.

    python -m eval_lab.latent_robustness --style folk --bars 32 --n 100

Takes N held-out windows of the style (as `eval_lab.run` does) and prints, for each way of moving
their latents, the interval profile and density of the decoded melodies and how far the latents
moved (RMS per coordinate, in units of the data's standard deviation per coordinate):

- the windows' own latents (the VAE's reconstruction);
- Gaussian noise of each `--ratios` times the data's std added to every sounding latent;
- each latent moved a `--weights` share of the way toward the latent at the same place in another
  window (the region between real chunks that a blurred model samples);
- the latents noised to each `--levels` step of the schedule and drawn back to 0 by the diffusion
  model (DDPM at the style and guidance, told the outline pitches the pipeline tells): what the
  model restores from that level.

Moved latents are decoded as sampled ones are (`MelodyPipeline.sampled_noise_level`), all held to
the windows' own outline pitches. Generated melodies land on the rows whose profile they share;
the figures and what they say of the latent space are in docs/evaluation.md ("Why the classifier
still tells them apart").
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from core.data.melody_cache import MelodyCache
from core.diffusion.samplers import sample_ddpm_from
from core.music.musicality import average_profiles, musicality
from core.nets.denoiser import GuidedDenoiser
from core.pipeline import MelodyPipeline, told_outlines
from eval_lab.run import EvalConfig, Evaluator, add_corpus_options, print_table

DEFAULT_RATIOS = (0.25, 0.5)
DEFAULT_WEIGHTS = (0.25, 0.5)
DEFAULT_LEVELS = (10, 30, 100, 1000)
PROFILE = ("repeated_share", "step_share", "larger_share", "leap_share")


def decoded_row(pipeline: MelodyPipeline, name: str, latents: torch.Tensor, outlines: torch.Tensor,
                clean: torch.Tensor, spread: torch.Tensor, level: float) -> dict[str, float | str]:
    """One row: the (N, K, D) `latents` decoded at `level`, held to (N, K, OUTLINE_SLOTS) `outlines`, with
    their RMS distance from the `clean` latents per coordinate over the (D,) `spread` of the data."""
    melodies = pipeline.decode_melodies(latents, level, outlines)
    profile, density = average_profiles(melodies), musicality(melodies)["notes_per_bar"]
    moved = float(((latents - clean) / spread).square().mean().sqrt())
    return {"latents": name, **{key: profile[key] for key in PROFILE}, "notes_per_bar": density, "moved": moved}


def robustness_table(pipeline: MelodyPipeline, latents: torch.Tensor, outlines: torch.Tensor, style: str,
                     guidance: float, ratios: Sequence[float] = DEFAULT_RATIOS,
                     weights: Sequence[float] = DEFAULT_WEIGHTS, levels: Sequence[int] = DEFAULT_LEVELS,
                     seed: int = 0) -> pd.DataFrame:
    """The table of the module docstring for (N, K, D) held-out `latents` and their (N, K, OUTLINE_SLOTS)
    `outlines`; the diffusion rows need the bundle's diffusion model (none without one)."""
    generator = torch.Generator().manual_seed(seed)
    told = told_outlines(outlines)  # what the pipeline tells the sequence models
    sounding = ~pipeline.rest_flags(latents).unsqueeze(-1)  # (N, K, 1): rest chunks stay rests
    spread = latents.reshape(-1, latents.shape[-1])[sounding.reshape(-1)].std(0)  # (D,)
    level = pipeline.sampled_noise_level
    rows = [decoded_row(pipeline, "own", latents, told, latents, spread, 0.0)]
    for ratio in ratios:
        noise = torch.randn(latents.shape, generator=generator) * spread * ratio
        rows.append(decoded_row(pipeline, f"noise {ratio:g} std", latents + noise * sounding, told, latents, spread,
                                level))
    order = torch.randperm(len(latents), generator=generator)
    partners, both = latents[order], sounding & sounding[order]  # moved only between two sounding chunks
    for weight in weights:
        between = latents + weight * (partners - latents) * both
        rows.append(decoded_row(pipeline, f"{weight:g} of the way to another", between, told, latents, spread, level))
    if pipeline.denoiser is not None:
        style_index = pipeline.denoiser.config.style_index(style)
        denoiser = GuidedDenoiser(pipeline.denoiser, torch.full((len(latents),), style_index), guidance,
                                  outlines=told)
        for step in tqdm(levels, desc="drawn back", leave=False):
            drawn = sample_ddpm_from(denoiser, pipeline.schedule, latents, step, generator)
            rows.append(decoded_row(pipeline, f"diffusion from step {step}", drawn, told, latents, spread, level))
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.latent_robustness", description=__doc__.split("\n\n")[0])
    add_corpus_options(parser)
    parser.add_argument("--style", default="folk", help="the style's held-out windows, and the label (default folk)")
    parser.add_argument("--bars", type=int, default=32, help="bars per window, a multiple of 8 (default 32)")
    parser.add_argument("--n", type=int, default=100, help="held-out windows (default 100)")
    parser.add_argument("--guidance", type=float, default=EvalConfig.guidance)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ratios", type=float, nargs="+", default=DEFAULT_RATIOS,
                        help="noise std as a share of the data's std per coordinate")
    parser.add_argument("--weights", type=float, nargs="+", default=DEFAULT_WEIGHTS,
                        help="shares of the way toward another window's latent")
    parser.add_argument("--levels", type=int, nargs="+", default=DEFAULT_LEVELS,
                        help="schedule steps the diffusion model draws the latents back from")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error(f"--n must be >= 2, got {args.n}")
    try:
        pipeline = MelodyPipeline(args.model)
        config = EvalConfig(n=args.n, seed=args.seed, style=args.style, length=args.bars // 2, guidance=args.guidance)
        evaluator = Evaluator(pipeline, args.latents, MelodyCache.load(args.data), config)
        rows = np.column_stack([evaluator.held_out_rows, np.full(args.n, evaluator.k)])
        table = robustness_table(pipeline, evaluator.sequences.gather(evaluator.held_out_rows, evaluator.k),
                                 evaluator.sequences.span_outlines(rows), args.style, args.guidance, args.ratios,
                                 args.weights, args.levels, args.seed)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    print_table(table, 3)
    print(f"{args.n} held-out {args.style} windows of {args.bars} bars", file=sys.stderr)


if __name__ == "__main__":
    main()
