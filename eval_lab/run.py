"""The paper's evaluation protocol on the held-out split.

    python -m eval_lab.run --model demo/model --latents data/latents_music21.npz --n 200 --out eval_lab/results

Unconditional systems (N sequences of 32 latents = 64 bars each): training data (GT),
held-out data, the prior (z ~ N(0, I) in the VAE's space), the TransformerMDN, diffusion
with the 1000-step DDPM sampler and with the fast sampler. Infilling (the middle 16
latents regenerated, 8 + 8 kept, on held-out windows): prior fill, spherical
interpolation between the bordering latents, diffusion. Every system's latents go through
the same codec inverse and VAE decoder, so the VAE's own errors are shared by all rows.
Per system: pitch and duration consistency and variance against GT, the raw mu_OA and
sigma^2_OA, and FD and MMD of its normalized latents against the held-out latents. Also a
quality-versus-reverse-step curve of the DDPM sampler's x0 estimates. Writes results.json,
results.csv, curve.csv, config.json and a few MIDI samples per system.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from core.latent_baselines import prior_latents, slerp
from core.midi_io import melody_to_pretty_midi, pretty_midi_to_bytes
from core.pipeline import MelodyPipeline
from core.samplers import sample
from eval_lab.metrics import frechet_distance, mmd_rbf, overlap_stats, self_similarity
from train.train_sequence import LatentWindows

KEPT_EACH_SIDE = 8
SAMPLES_PER_SYSTEM = 3


@dataclass(frozen=True)
class EvalConfig:
    n: int = 200
    seed: int = 0
    fast_steps: int = 50
    batch_size: int = 50
    mdn_temperature: float = 1.0
    curve_every: int = 100  # reverse steps between points of the quality curve


class Evaluator:
    def __init__(self, pipeline: MelodyPipeline, latents_path: Path, config: EvalConfig):
        self.pipeline, self.config = pipeline, config
        self.rng = np.random.default_rng(config.seed)
        self.train = LatentWindows(latents_path, "train")
        self.eval = LatentWindows(latents_path, "eval")
        self.k = self.train.length

    def windows(self, source: LatentWindows) -> torch.Tensor:
        rows = self.rng.choice(len(source.windows), size=self.config.n, replace=len(source.windows) < self.config.n)
        return source.gather(rows)  # (N, k, D)

    def generator(self, offset: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.config.seed * 1000 + offset)

    def in_batches(self, draw, progress: str) -> torch.Tensor:
        """Call draw(batch_size, batch_index) until N sequences exist: (N, k, D)."""
        parts, index = [], 0
        for start in tqdm(range(0, self.config.n, self.config.batch_size), desc=progress, leave=False):
            parts.append(draw(min(self.config.batch_size, self.config.n - start), index))
            index += 1
        return torch.cat(parts)

    def unconditional(self) -> dict[str, torch.Tensor]:
        p, d = self.pipeline, self.train.data_dims
        systems = {"train (GT)": self.windows(self.train), "held-out": self.windows(self.eval),
                   "prior": prior_latents(p.codec, (self.config.n, self.k, d), self.generator(1))}
        if p.mdn is not None:
            systems["TransformerMDN"] = self.in_batches(
                lambda b, i: p.mdn.sample(b, self.k, self.generator(10 + i), self.config.mdn_temperature), "mdn")
        for name, sampler, steps in (("diffusion DDPM-1000", "ddpm", None),
                                     (f"diffusion fast-{self.config.fast_steps}", "fast", self.config.fast_steps)):
            systems[name] = self.in_batches(
                lambda b, i, s=sampler, n=steps: sample(p.denoiser, p.schedule, (b, self.k, d), self.generator(100 + i),
                                                        s, n).latents, name)
        return systems

    def infilling(self) -> dict[str, torch.Tensor]:
        p = self.pipeline
        known = self.windows(self.eval)  # (N, k, D)
        mask = torch.zeros(self.k, dtype=torch.bool)
        mask[:KEPT_EACH_SIDE] = mask[-KEPT_EACH_SIDE:] = True
        middle = ~mask
        prior = known.clone()
        prior[:, middle] = prior_latents(p.codec, (self.config.n, int(middle.sum()), 1), self.generator(2))
        z = p.codec.inverse(known)
        fractions = torch.linspace(0, 1, int(middle.sum()) + 2)[1:-1]
        interpolated = known.clone()
        interpolated[:, middle] = p.codec.transform(slerp(z[:, KEPT_EACH_SIDE - 1], z[:, -KEPT_EACH_SIDE], fractions))
        diffusion = self.in_batches(
            lambda b, i: sample(p.denoiser, p.schedule, (b, self.k, known.shape[-1]), self.generator(200 + i), "fast",
                                self.config.fast_steps, known=known[i * self.config.batch_size:][:b], mask=mask).latents,
            "infill")
        return {"infill: prior": prior, "infill: interpolation": interpolated, "infill: diffusion": diffusion,
                "infill: held-out (truth)": known}

    def quality_curve(self, reference) -> pd.DataFrame:
        """C and Var of the decoded x0 estimates along the DDPM reverse process."""
        p, d = self.pipeline, self.train.data_dims
        batch = min(self.config.n, self.config.batch_size)
        result = sample(p.denoiser, p.schedule, (batch, self.k, d), self.generator(300), "ddpm",
                        keep_every=self.config.curve_every)
        rows = []
        for t, x0 in tqdm(result.intermediates, desc="curve", leave=False):
            rows.append({"t": t, **self.scores(x0, reference, None)})
        return pd.DataFrame(rows)

    def scores(self, latents: torch.Tensor, reference, real: np.ndarray | None) -> dict[str, float]:
        """Self-similarity against `reference`, and FD / MMD against `real` latents when given.
        A set whose melodies have too few notes for any frame pair scores NaN, not a crash."""
        try:
            row = {k: v for k, v in self_similarity(self.pipeline.decode_melodies(latents), reference).items()
                   if not k.startswith("reference_")}
        except ValueError:
            row = {"pairs": 0}
        if real is not None:
            flat = latents.reshape(-1, latents.shape[-1]).numpy().astype(np.float64)
            row["frechet_distance"] = frechet_distance(real, flat)
            row["mmd_rbf"] = mmd_rbf(real[:4000], flat[:4000])
        return row


def run(pipeline: MelodyPipeline, latents_path: Path, out: Path, config: EvalConfig) -> pd.DataFrame:
    if pipeline.denoiser is None:
        raise ValueError(f"{pipeline.model_dir} has no diffusion model to evaluate")
    evaluator = Evaluator(pipeline, latents_path, config)
    systems = evaluator.unconditional()
    systems.update(evaluator.infilling())
    reference = overlap_stats(pipeline.decode_melodies(systems["train (GT)"]))
    real = systems["held-out"].reshape(-1, evaluator.train.data_dims).numpy().astype(np.float64)
    rows = []
    (out / "samples").mkdir(parents=True, exist_ok=True)
    for name, latents in tqdm(systems.items(), desc="scoring"):
        rows.append({"system": name, **evaluator.scores(latents, reference, real)})
        slug = "".join(c if c.isalnum() else "_" for c in name).strip("_")
        for index, melody in enumerate(pipeline.decode_melodies(latents[:SAMPLES_PER_SYSTEM])):
            (out / "samples" / f"{slug}_{index}.mid").write_bytes(pretty_midi_to_bytes(melody_to_pretty_midi(melody)))
    table = pd.DataFrame(rows)
    curve = evaluator.quality_curve(reference)
    table.to_csv(out / "results.csv", index=False)
    curve.to_csv(out / "curve.csv", index=False)
    (out / "results.json").write_text(json.dumps({"results": rows, "curve": curve.to_dict("records")}, indent=2))
    (out / "config.json").write_text(json.dumps({**dataclasses.asdict(config), "model": str(pipeline.model_dir),
                                                 "latents": str(latents_path)}, indent=2))
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("demo/model"), help="model directory")
    parser.add_argument("--latents", type=Path, default=Path("data/latents_music21.npz"), help="from train.encode")
    parser.add_argument("--out", type=Path, default=Path("eval_lab/results"), help="output directory")
    parser.add_argument("--n", type=int, default=EvalConfig.n, help="sequences per system (default 200)")
    parser.add_argument("--seed", type=int, default=EvalConfig.seed)
    parser.add_argument("--fast-steps", type=int, default=EvalConfig.fast_steps)
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error(f"--n must be >= 2, got {args.n}")
    config = EvalConfig(n=args.n, seed=args.seed, fast_steps=args.fast_steps)
    try:
        table = run(MelodyPipeline(args.model), args.latents, args.out, config)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
