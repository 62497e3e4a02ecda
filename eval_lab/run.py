"""The paper's evaluation protocol on the held-out split, for one style at one length.

    python -m eval_lab.run --style renaissance --bars 64 --n 200 --out eval_lab/results/renaissance_64bars
    python -m eval_lab.run --style folk --bars 32 --n 200 --out eval_lab/results/folk_32bars

The paper's setting is 64 bars (32 latents) of any style, without labels (`--style any
--guidance 0`); `--style LABEL` takes the windows of that style only and samples the
conditional models with that label. Unconditional systems (N sequences of k latents each): training data (GT),
held-out data (as raw melodies from the cache, and through the VAE: what the decoder allows
at best; and the style's whole held-out tunes, of any length, where a tune's cadences are: its
windows are cut from anywhere in it), the prior (z ~ N(0, I) in the VAE's space), the TransformerMDN, diffusion
with the 1000-step DDPM sampler and with the fast sampler (the sequence models draw their
melodies with the style's forms, `core.music.forms`, as the app does). Infilling (the middle k/2
latents regenerated, k/4 kept on each side, on held-out windows): prior fill, spherical
interpolation between the bordering latents, diffusion. Every system's latents go through
the same codec inverse and VAE decoder, so the VAE's own errors are shared by all rows.
Per system: pitch and duration consistency and variance against GT, the raw mu_OA and
sigma^2_OA, FD and MMD of its normalized latents against the held-out latents, and the
musicality metrics, interval profile, cadences and form (contour similarity, restatements) of its
melodies (`core.music.musicality`), and the accuracy of a classifier
telling them from the raw held-out melodies (`eval_lab.c2st`, 0.5 = indistinguishable; the raw
row holds the real-vs-real control). Also a
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

from core.bundle import DEFAULT_MODEL_DIR, VAE_ENCODER, check_bundle
from core.data.latent_sequences import LatentSequences
from core.data.melody_cache import MelodyCache
from core.diffusion.samplers import default_steps
from core.limits import MAX_SEED
from core.music.constants import BARS_PER_CHUNK, CHUNKS_PER_WINDOW, STEPS_PER_CHUNK
from core.music.melody import split_into_chunks, trim_rest_chunks
from core.music.midi_io import melody_to_pretty_midi, pretty_midi_to_bytes
from core.music.musicality import average_profiles, musicality
from core.nets.transformer import ANY_STYLE
from core.pipeline import Drawn, MelodyPipeline, join_chunks
from core.requests import DEFAULT_GUIDANCE, INFILL_METHODS, SamplingOptions
from eval_lab.c2st import told_apart
from eval_lab.metrics import NoFramePairsError, frechet_distance, mmd_rbf, overlap_stats, self_similarity

RESULTS_DIR = Path(__file__).resolve().parent / "results"  # the committed runs, one folder each

SAMPLES_PER_SYSTEM = 3
THROUGH_THE_VAE = ("held-out through the VAE", "infill: held-out (truth)")  # the raw held-out windows, decoded
WHOLE_TUNES = "held-out whole tunes (raw)"  # the reference for cadences: windows are cut from anywhere in a tune


def system_seeds(seed: int, system: str, start: int, count: int) -> tuple[int, ...]:
    """Seeds of sequences start..start+count of `system` in a run seeded `seed`: the same for the
    same arguments, independent of the batch size, and distinct across systems."""
    entropy = [seed, *system.encode("utf-8")]
    states = np.random.SeedSequence(entropy).generate_state(start + count, dtype=np.uint32)[start:]
    return tuple(int(state) & MAX_SEED for state in states)


@dataclass(frozen=True)
class EvalConfig:
    n: int = 200
    seed: int = 0
    fast_steps: int | None = None  # None: the fast sampler's own default, as in the app
    batch_size: int = 50
    mdn_temperature: float = 1.0
    curve_every: int = 100  # reverse steps between points of the quality curve
    style: str = ANY_STYLE  # held-out and training windows of this style; the label the models get
    length: int = CHUNKS_PER_WINDOW  # k latents per sequence (2 bars each)
    guidance: float = DEFAULT_GUIDANCE

    def __post_init__(self) -> None:
        if self.length < 4 or self.length % 4:
            raise ValueError(f"the length must be a multiple of 4 latents (8 bars) so that the middle half can be "
                             f"infilled, got {self.length} latents")

    @property
    def kept_each_side(self) -> int:
        """Latents kept before and after the infilled middle half."""
        return self.length // 4


class Evaluator:
    """Draws every system's latents through the pipeline, exactly as the app and the CLIs do."""

    def __init__(self, pipeline: MelodyPipeline, latents_path: Path, cache: MelodyCache, config: EvalConfig):
        self.pipeline, self.config, self.cache = pipeline, config, cache
        self.rng = np.random.default_rng(config.seed)
        self.sequences = LatentSequences.load(latents_path)
        bundle = check_bundle(pipeline.model_dir).hashes
        if (self.sequences.encoder_sha256, self.sequences.codec_sha256) != (bundle[VAE_ENCODER], bundle["codec"]):
            raise ValueError(f"{latents_path} was encoded with another VAE or codec than the bundle "
                             f"{pipeline.model_dir} holds; encode again with `python -m train.encode --model "
                             f"{pipeline.model_dir} --out {latents_path}`")
        if len(self.sequences.track_lengths) != cache.track_items.size:
            raise ValueError(f"{latents_path} holds {len(self.sequences.track_lengths)} tracks but the melody cache "
                             f"{cache.track_items.size}: encode this cache with `python -m train.encode`")
        self.k = config.length
        self.style = None if config.style == ANY_STYLE else config.style
        self.held_out_rows = self.window_rows("eval")

    def window_rows(self, split: str) -> np.ndarray:
        """(N, 2) random (track, first latent) rows of windows of k latents of the style in `split`."""
        rows = self.sequences.windows(split, self.k, style=self.style)
        if len(rows) == 0:
            raise ValueError(f"the encoded corpus has no {split} track of style {self.config.style} with "
                             f"{self.k} latents or more; choose fewer --bars or another --style")
        return rows[self.rng.choice(len(rows), size=self.config.n, replace=len(rows) < self.config.n)]

    def raw_melodies(self, rows: np.ndarray, model_key: bool = False) -> list[np.ndarray]:
        """The real melodies of window rows, read from the cache (not through the VAE); with `model_key`,
        each moved as its track was moved to be encoded (into C for a key-normalized VAE), so that
        they fit their latents note for note."""
        steps, moved = self.k * STEPS_PER_CHUNK, model_key and self.pipeline.vae.config.key_normalized
        return [self.cache.track_melody(track, moved)[start * STEPS_PER_CHUNK :][:steps] for track, start in rows]

    def whole_tunes(self) -> list[np.ndarray]:
        """Up to N of the style's held-out tracks, whole (their leading and trailing rest chunks
        trimmed), from the cache: where real tunes open, end their phrases and close."""
        tracks = self.cache.track_indices("eval", self.style)
        chosen = self.rng.choice(tracks, size=min(self.config.n, tracks.size), replace=False)
        tunes = [trim_rest_chunks(self.cache.track_melody(track)) for track in np.sort(chosen)]
        return [tune for tune in tunes if tune.size]

    def seeds(self, system: str, start: int, count: int) -> tuple[int, ...]:
        return system_seeds(self.config.seed, system, start, count)

    def in_batches(self, system: str, draw, combine=torch.cat):
        """Call draw(seeds, first_index) per batch of seeds until N sequences exist and `combine` the
        parts: by default (N, k, D) latents."""
        parts = []
        for start in tqdm(range(0, self.config.n, self.config.batch_size), desc=system, leave=False):
            count = min(self.config.batch_size, self.config.n - start)
            parts.append(draw(self.seeds(system, start, count), start))
        return combine(parts)

    def options(self, seeds: tuple[int, ...], **options) -> SamplingOptions:
        """Sampling options with the evaluated style and guidance (unless `options` names another guidance)."""
        return SamplingOptions(**{"style": self.config.style, "guidance": self.config.guidance, **options}, seeds=seeds)

    def sampled(self, system: str, **options) -> Drawn:
        """N sequences of k latents drawn by the pipeline, with the outlines they follow."""
        def draw(seeds: tuple[int, ...], _start: int) -> Drawn:
            latents, _, _, outlines = self.pipeline.sample_latents(self.options(seeds, **options), self.k)
            return Drawn(latents, outlines)

        return self.in_batches(system, draw, combine=Drawn.concatenate)

    def unconditional(self) -> dict[str, Drawn]:
        held_out = Drawn(self.sequences.gather(self.held_out_rows, self.k))
        systems = {"train (GT)": Drawn(self.sequences.gather(self.window_rows("train"), self.k)),
                   "held-out through the VAE": held_out,
                   "prior": self.sampled("prior", model="prior")}
        if self.pipeline.mdn is not None:
            systems["TransformerMDN"] = self.sampled("mdn", model="mdn", temperature=self.config.mdn_temperature)
        systems["diffusion DDPM-1000"] = self.sampled("ddpm", sampler="ddpm")
        fast_steps = self.config.fast_steps or default_steps("fast", self.pipeline.schedule)
        systems[f"diffusion fast-{fast_steps}"] = self.sampled("fast", steps=fast_steps)
        return systems

    def infill_mask(self) -> np.ndarray:
        """(k,) bool: the middle half of a window, regenerated; its first and last quarter kept."""
        regenerate = np.zeros(self.k, dtype=bool)
        regenerate[self.config.kept_each_side : -self.config.kept_each_side] = True
        return regenerate

    def infilled(self, system: str, method: str, **options) -> Drawn:
        """(N, k, D): the held-out windows with their middle half infilled by `method` (`options` as
        for `options`), with the outlines the new latents follow where they follow any."""
        known = self.sequences.gather(self.held_out_rows, self.k)  # (N, k, D)
        outlines = self.sequences.span_outlines(np.column_stack([self.held_out_rows,
                                                                 np.full(len(self.held_out_rows), self.k)]))
        return self.in_batches(system, lambda seeds, start: Drawn(*self.pipeline.infill_latents(
            self.options(seeds, **options), known[start : start + len(seeds)], self.infill_mask(), method,
            known_outlines=outlines[start : start + len(seeds)])), combine=Drawn.concatenate)

    def best_joined(self, system: str, draws: int, phrasing: bool, **options) -> list[np.ndarray]:
        """N (T,) melodies: the held-out windows (in the key their latents were encoded in) with their
        middle half infilled as the app infills, the best-joined of `draws` diffusion draws per window,
        judged and decoded shaped or not (`MelodyPipeline.best_joined_latents`); the kept bars are the
        windows' own notes."""
        windows = self.raw_melodies(self.held_out_rows, model_key=True)
        chunks = np.stack([split_into_chunks(melody) for melody in windows])  # (N, k, 32)

        def draw(seeds: tuple[int, ...], start: int) -> list[np.ndarray]:
            _, decoded = self.pipeline.best_joined_latents(self.options(seeds, **options),
                                                           chunks[start : start + len(seeds)], self.infill_mask(),
                                                           draws, phrasing=phrasing)
            return [join_chunks(new_chunks, rests) for new_chunks, rests in decoded]

        return self.in_batches(system, draw, combine=lambda parts: [melody for part in parts for melody in part])

    def infilling(self) -> dict[str, Drawn]:
        systems = {f"infill: {method}": self.infilled(f"infill: {method}", method, steps=self.config.fast_steps)
                   for method in INFILL_METHODS}
        systems["infill: held-out (truth)"] = Drawn(self.sequences.gather(self.held_out_rows, self.k))
        return systems

    def quality_curve(self, reference) -> pd.DataFrame:
        """C and Var of the decoded x0 estimates along the DDPM reverse process."""
        batch = min(self.config.n, self.config.batch_size)
        options = self.options(self.seeds("curve", 0, batch), sampler="ddpm")
        _, intermediates, _, outlines = self.pipeline.sample_latents(options, self.k,
                                                                     keep_every=self.config.curve_every)
        rows = []
        for t, x0 in tqdm(intermediates, desc="curve", leave=False):
            rows.append({"t": t, **self.scores(Drawn(x0, outlines), reference, None,
                                               noise_level=self.pipeline.sampled_noise_level)})
        return pd.DataFrame(rows)

    def decoding_level(self, system: str) -> torch.Tensor | float:
        """The noise level a system's latents are decoded at (`MelodyPipeline.decode`): 0 for real
        latents, the pipeline's sampled level for drawn ones, and for infilled windows (k,) per place,
        0 where kept."""
        if system == "train (GT)" or system in THROUGH_THE_VAE:
            return 0.0
        if system.startswith("infill:"):
            return torch.from_numpy(np.where(self.infill_mask(), self.pipeline.sampled_noise_level, 0.0))
        return self.pipeline.sampled_noise_level

    def scores(self, drawn: Drawn | None, reference, real: np.ndarray | None,
               melodies: list[np.ndarray] | None = None, real_melodies: list[np.ndarray] | None = None,
               paired: bool = False, noise_level: torch.Tensor | float = 0.0) -> dict[str, float]:
        """Self-similarity against `reference` and musicality of the `drawn` latents decoded (or of
        `melodies` given as they are), FD / MMD against `real` latents when both are given, and
        the classifier two-sample accuracy against `real_melodies` when given (`eval_lab.c2st`,
        `paired` when the melodies are the real ones through the VAE; for the real melodies
        themselves, their real-vs-real control); the latents are decoded at `noise_level`
        (`decoding_level`), held to their outlines where they have them. A set whose melodies have too
        few notes for any frame pair scores NaN, not a crash."""
        latents = None if drawn is None else drawn.latents
        if melodies is None:
            melodies = self.pipeline.decode_melodies(latents, noise_level, drawn.outlines)
        try:
            row = {k: v for k, v in self_similarity(melodies, reference).items() if not k.startswith("reference_")}
        except NoFramePairsError:
            row = {"pairs": 0}
        row.update(musicality(melodies))
        row.update(average_profiles(melodies))
        if real is not None and latents is not None:
            flat = latents.reshape(-1, latents.shape[-1]).numpy().astype(np.float64)
            row["frechet_distance"] = frechet_distance(real, flat)
            row["mmd_rbf"] = mmd_rbf(real[:4000], flat[:4000])
        if real_melodies is not None:  # NaN for too few melodies (a quick rerun with a small N)
            row["c2st_accuracy"] = told_apart(real_melodies, melodies, paired=paired)
        return row


def run(pipeline: MelodyPipeline, latents_path: Path, cache_path: Path, out: Path, config: EvalConfig) -> pd.DataFrame:
    if pipeline.denoiser is None:
        raise ValueError(f"{pipeline.model_dir} has no diffusion model to evaluate")
    evaluator = Evaluator(pipeline, latents_path, MelodyCache.load(cache_path), config)
    systems = evaluator.unconditional()
    systems.update(evaluator.infilling())
    reference = overlap_stats(pipeline.decode_melodies(systems["train (GT)"].latents))
    real = systems["held-out through the VAE"].latents.reshape(-1, evaluator.sequences.data_dims).numpy()
    real = real.astype(np.float64)
    raw = evaluator.raw_melodies(evaluator.held_out_rows)
    rows = [{"system": "held-out (raw melodies)", **evaluator.scores(None, reference, None, raw, raw)},
            {"system": WHOLE_TUNES, **evaluator.scores(None, reference, None, evaluator.whole_tunes())}]
    (out / "samples").mkdir(parents=True, exist_ok=True)
    for name, drawn in tqdm(systems.items(), desc="scoring"):
        level = evaluator.decoding_level(name)
        rows.append({"system": name, **evaluator.scores(drawn, reference, real, real_melodies=raw,
                                                        paired=name in THROUGH_THE_VAE, noise_level=level)})
        slug = "".join(c if c.isalnum() else "_" for c in name).strip("_")
        shown = drawn.first(SAMPLES_PER_SYSTEM)
        for index, melody in enumerate(pipeline.decode_melodies(shown.latents, level, shown.outlines)):
            (out / "samples" / f"{slug}_{index}.mid").write_bytes(pretty_midi_to_bytes(melody_to_pretty_midi(melody)))
    table = pd.DataFrame(rows)
    curve = evaluator.quality_curve(reference)
    table.to_csv(out / "results.csv", index=False)
    curve.to_csv(out / "curve.csv", index=False)
    (out / "results.json").write_text(json.dumps({"results": rows, "curve": curve.to_dict("records")}, indent=2))
    (out / "config.json").write_text(json.dumps({**dataclasses.asdict(config), "model": str(pipeline.model_dir),
                                                 "latents": str(latents_path), "data": str(cache_path)}, indent=2))
    return table


def read_run_config(directory: str | Path) -> dict:
    """The config.json `run` wrote into `directory` ({} for a directory without one)."""
    path = Path(directory) / "config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def add_corpus_options(parser: argparse.ArgumentParser) -> None:
    """--model, --latents and --data: the bundle, its encoded corpus and the melody cache."""
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="model directory")
    parser.add_argument("--latents", type=Path, default=Path("data/latents_music21.npz"), help="from train.encode")
    parser.add_argument("--data", type=Path, default=Path("data/music21.npz"), help="the melody cache it encodes")


def print_table(table: pd.DataFrame, digits: int) -> None:
    """A results table on stdout, rounded to `digits`, wide enough for the Lab's columns."""
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(digits).to_string(index=False))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.run", description=__doc__.split("\n\n")[0])
    add_corpus_options(parser)
    parser.add_argument("--out", type=Path, default=Path("eval_lab/results"), help="output directory")
    parser.add_argument("--n", type=int, default=EvalConfig.n, help="sequences per system (default 200)")
    parser.add_argument("--seed", type=int, default=EvalConfig.seed)
    parser.add_argument("--fast-steps", type=int, default=EvalConfig.fast_steps)
    parser.add_argument("--style", default=EvalConfig.style,
                        help=f"evaluate on this style's windows with this label, or {ANY_STYLE} (default)")
    parser.add_argument("--bars", type=int, default=2 * EvalConfig.length,
                        help="bars per sequence, a multiple of 8 (default 64: the paper's 32 latents)")
    parser.add_argument("--guidance", type=float, default=EvalConfig.guidance,
                        help=f"classifier-free guidance scale (default {EvalConfig.guidance:g}; 0 = unconditional)")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error(f"--n must be >= 2, got {args.n}")
    try:
        config = EvalConfig(n=args.n, seed=args.seed, fast_steps=args.fast_steps, style=args.style,
                            length=args.bars // BARS_PER_CHUNK, guidance=args.guidance)
        table = run(MelodyPipeline(args.model), args.latents, args.data, args.out, config)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    print_table(table, 4)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
