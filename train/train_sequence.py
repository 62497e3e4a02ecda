"""What the diffusion model and the TransformerMDN share: spans of encoded latents and their CLI.

Both learn sequences of `min_length` to `max_length` consecutive normalized latents taken
from every track of the file `train.encode` writes (`core.data.latent_sequences.LatentSequences`):
a draw picks a style by its share (`--style-weights`), a track of that style with
probability proportional to its length, then a span of it (the longest the track allows in
FULL_SPAN_SHARE of the draws, a uniformly random length otherwise) at a random start.
Each batch groups spans of similar length (`LENGTH_BUCKETS`) and is padded at the end with
a padding mask, so padding stays cheap; every latent carries its place in its track (distance
from the track's first and last latent), which models with `tune_positions` read, so that a
span cut from the middle of a tune is never taken for a whole one. Every span carries its track's style label, dropped
to "no style" in a `style_dropout` share of the draws, so the model also learns the
unconditional distribution that classifier-free guidance needs. The `paper` preset keeps
the paper's setting: 32-latent windows only, no labels.

The network, loss and export come from a subclass of `LatentSpanTask`. A model exported
into a bundle records the VAE and codec the latents were made with, and a bundle whose VAE
or codec differs is refused before training starts. With `--export`, each evaluation also
samples a few melodies of `check_style` and reports their musicality (`check_*` figures)
with the bundle's VAE, so a run can be stopped when they stop improving.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from core.bundle import VAE_ENCODER, dependency_sha256, record_component
from core.data.latent_sequences import LatentSequences
from core.music.musicality import musicality
from core.music.outlines import OUTLINE_UNKNOWN
from core.nets.transformer import UNCONDITIONAL
from core.pipeline import MelodyPipeline
from train.config_cli import apply_overrides, run_training, training_parser
from train.configs import SequenceTrainConfig
from train.presets import preset
from train.run_state import save_exported_model
from train.style_mix import style_shares

EVAL_BATCH = 256
EVAL_SEED = 1234
FULL_SPAN_SHARE = 0.5  # draws that take the longest span a track allows (up to max_length)
LENGTH_BUCKETS = 8  # a batch is the b-th of this many length-sorted slices of candidate spans


@dataclass
class LatentBatch:
    """Spans of latents padded to one length; B = batch, L = longest span, D = dims."""

    latents: torch.Tensor  # (B, L, D) zero at padded positions
    padding: torch.Tensor  # (B, L) bool, True at padded positions
    style: torch.Tensor  # (B,) long style indices (0 = no style)
    positions: torch.Tensor  # (B, L, 2) long: each latent's distance from its track's first and last latent
    outlines: torch.Tensor  # (B, L, S) long: each latent's outline tokens (`core.music.outlines`), 0 at padding

    def to(self, device: torch.device) -> "LatentBatch":
        return LatentBatch(self.latents.to(device), self.padding.to(device), self.style.to(device),
                           self.positions.to(device), self.outlines.to(device))

    @property
    def real(self) -> torch.Tensor:
        """(B, L, 1) float: 1 at real positions, 0 at padding."""
        return (~self.padding).float()[..., None]


def hide_outlines(outlines: torch.Tensor, share: float, generator: torch.Generator | None) -> torch.Tensor:
    """(B, L, S) outline tokens with every token of a `share` of the spans (drawn from `generator`) made
    unknown, so that an outline-conditioned model also learns to draw without them."""
    if share <= 0:
        return outlines
    hidden = torch.rand(outlines.shape[0], generator=generator, device=outlines.device) < share  # (B,)
    return outlines.masked_fill(hidden[:, None, None], OUTLINE_UNKNOWN)


def check_export_target(directory: Path, latents: LatentSequences) -> None:
    """ValueError if the bundle `directory` holds a VAE or codec other than the latents were made with."""
    for name, expected in ((VAE_ENCODER, latents.encoder_sha256), ("codec", latents.codec_sha256)):
        try:
            actual = dependency_sha256(directory, name)
        except FileNotFoundError:  # a new bundle: nothing to disagree with
            continue
        if actual != expected:
            raise ValueError(f"the latents were made with other weights than the {name} in {directory} "
                             f"({expected[:12]} vs {actual[:12]}); encode them again with "
                             f"`python -m train.encode --model {directory}`")


def model_styles(latents: LatentSequences, config: SequenceTrainConfig) -> str:
    """The `styles` a model trained on `latents` with `config` is conditioned on ("" without labels)."""
    return "" if config.style_dropout >= 1 else ",".join(sorted(set(latents.track_styles.tolist())))


class SpanSampler:
    """Random spans of one split's tracks (see the module docstring), with their style indices."""

    def __init__(self, latents: LatentSequences, split: str, config: SequenceTrainConfig, labels: tuple[str, ...]):
        if not 1 <= config.min_length <= config.max_length:
            raise ValueError(f"need 1 <= min_length <= max_length, got {config.min_length} and {config.max_length}")
        tracks = latents.track_indices(split)
        tracks = tracks[latents.track_lengths[tracks] >= config.min_length]
        if len(tracks) == 0:
            raise ValueError(f"the {split} split has no tracks of {config.min_length} latents or more")
        self.latents, self.config = latents, config
        self.styles = sorted(set(latents.track_styles[tracks].tolist()))
        self.tracks_by_style = [tracks[latents.track_styles[tracks] == style] for style in self.styles]
        lengths = {style: int(latents.track_lengths[group].sum()) for style, group in
                   zip(self.styles, self.tracks_by_style)}
        shares = style_shares(config.style_weights, lengths)
        self.style_shares = np.array([shares[style] for style in self.styles])
        # each style's cumulative track weights, as numpy's Generator.choice(p=...) builds them: one
        # searchsorted per draw consumes the same random numbers without rebuilding them per draw
        sums = [np.cumsum(latents.track_lengths[group] / latents.track_lengths[group].sum())
                for group in self.tracks_by_style]
        self.track_cdfs = [total / total[-1] for total in sums]
        self.style_indices = np.array([1 + labels.index(style) if labels else UNCONDITIONAL
                                       for style in self.styles])

    def draw(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(count, 3) rows (track, first latent, length) and (count,) style indices (labels kept)."""
        styles = rng.choice(len(self.styles), size=count, p=self.style_shares)
        picks = rng.random(count)  # one per draw, in order, as count calls of rng.choice(group, p=weights)
        tracks = np.empty(count, dtype=np.int64)
        for s, (group, cdf) in enumerate(zip(self.tracks_by_style, self.track_cdfs)):
            chosen = styles == s
            tracks[chosen] = group[cdf.searchsorted(picks[chosen], side="right")]
        longest = np.minimum(self.latents.track_lengths[tracks], self.config.max_length)
        shortest = self.config.min_length
        lengths = np.where(rng.random(count) < FULL_SPAN_SHARE, longest,
                           shortest + (rng.random(count) * (longest - shortest + 1)).astype(np.int64))
        starts = (rng.random(count) * (self.latents.track_lengths[tracks] - lengths + 1)).astype(np.int64)
        return np.stack([tracks, starts, lengths], axis=1), self.style_indices[styles]

    def batch(self, rng: np.random.Generator, batch_size: int) -> LatentBatch:
        """A training batch: one of LENGTH_BUCKETS length-sorted slices of candidate spans, labels
        dropped with probability style_dropout."""
        rows, style = self.draw(rng, batch_size * LENGTH_BUCKETS)
        order = np.argsort(rows[:, 2], kind="stable")
        chosen = order[rng.integers(LENGTH_BUCKETS) * batch_size:][:batch_size]
        dropped = rng.random(batch_size) < self.config.style_dropout
        return self.gather(rows[chosen], np.where(dropped, UNCONDITIONAL, style[chosen]))

    def gather(self, rows: np.ndarray, style: np.ndarray) -> LatentBatch:
        """The spans of (B, 3) rows (track, first latent, length), with their places in their tracks."""
        latents, padding = self.latents.gather_spans(rows)
        from_start = rows[:, 1:2] + np.arange(latents.shape[1])[None, :]  # (B, L)
        from_end = self.latents.track_lengths[rows[:, 0]][:, None] - 1 - from_start
        positions = np.where(padding.numpy()[..., None], 0, np.stack([from_start, from_end], axis=-1))  # (B, L, 2)
        return LatentBatch(latents, padding, torch.from_numpy(style.astype(np.int64)),
                           torch.from_numpy(positions.astype(np.int64)), self.latents.span_outlines(rows))


class LatentSpanTask:
    """Training over padded batches of latent spans (`train.loop.TrainTask`); subclasses set
    `name` and `model_class` and define `loss` and `sample_check` (and `export` where a model is
    fitted on more than the latents' VAE and codec)."""

    name: str
    model_class: type[nn.Module]

    def __init__(self, latents: LatentSequences, data: Path, model_config: Any, config: SequenceTrainConfig,
                 decoder_dir: Path | None = None):
        self.latents, self.data, self.model_config, self.config = latents, data, model_config, config
        self.fitted_on = {VAE_ENCODER: latents.encoder_sha256, "codec": latents.codec_sha256}
        labels = model_config.style_labels
        self.train_spans = SpanSampler(latents, "train", config, labels)
        eval_spans = SpanSampler(latents, "eval", config, labels)
        rows, style = eval_spans.draw(np.random.default_rng(EVAL_SEED), config.eval_windows)
        order = np.argsort(rows[:, 2], kind="stable")  # batches of similar lengths
        self.eval_rows, self.eval_style = rows[order], style[order]
        self.eval_spans = eval_spans
        self.decoder_dir = decoder_dir
        self._pipeline = None
        if decoder_dir is not None and labels and config.check_samples > 0:
            try:
                model_config.style_index(config.check_style)
            except ValueError as error:
                raise ValueError(f"--check-style: {error}") from None

    @staticmethod
    def fitted_config(model_config: Any, latents: LatentSequences, config: SequenceTrainConfig) -> Any:
        """The preset's model config with what the data decide: the dimensions and the style labels
        (command-line overrides still win)."""
        return dataclasses.replace(model_config, data_dims=latents.data_dims, styles=model_styles(latents, config))

    def build_model(self, model_config: Any) -> nn.Module:
        if model_config.data_dims != self.latents.data_dims:
            raise ValueError(f"the model has data_dims={model_config.data_dims} but {self.data} holds "
                             f"{self.latents.data_dims}-dim latents")
        return self.model_class(model_config)

    def next_batch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> LatentBatch:
        return self.train_spans.batch(rng, batch_size).to(device)

    def evaluate(self, model: nn.Module, step: int) -> dict[str, float]:
        """Mean loss per span on the fixed held-out spans with a fixed noise generator, and the
        musicality of a few sampled melodies when a decoder bundle is known."""
        device = next(model.parameters()).device
        generator = torch.Generator(device).manual_seed(EVAL_SEED)
        total = 0.0
        for start in range(0, len(self.eval_rows), EVAL_BATCH):
            batch = self.eval_spans.gather(self.eval_rows[start : start + EVAL_BATCH],
                                           self.eval_style[start : start + EVAL_BATCH]).to(device)
            total += self.loss(model, batch, step, generator)[0].item() * len(batch.style)
        figures = {"eval_loss": total / len(self.eval_rows)}
        if self.decoder_dir is not None and min(self.config.check_samples, self.config.check_latents) > 0:
            figures.update(self.musicality_check(model))
        return figures

    def musicality_check(self, model: nn.Module) -> dict[str, float]:
        """Musicality (`core.music.musicality`) of check_samples melodies of check_latents latents of
        check_style, sampled with fixed seeds and decoded by the bundle's VAE."""
        if self._pipeline is None:
            self._pipeline = MelodyPipeline(self.decoder_dir)
        config = self.config
        style = model.config.style_index(config.check_style) if model.config.style_labels else UNCONDITIONAL
        generators = [torch.Generator().manual_seed(seed) for seed in range(config.check_samples)]
        latents = self.sample_check(model, torch.full((config.check_samples,), style, dtype=torch.long),
                                    config.check_latents, generators)
        scores = musicality(self._pipeline.decode_melodies(latents.float().cpu(), self._pipeline.sampled_noise_level))
        return {f"check_{name}": value for name, value in scores.items()}

    def sample_check(self, model: nn.Module, style: torch.Tensor, length: int,
                     generators: list[torch.Generator]) -> torch.Tensor:
        """(S, length, D) latents for the musicality check; style: (S,) indices."""
        raise NotImplementedError

    def save_model(self, model: nn.Module, directory: Path, record: dict) -> None:
        """NAME.safetensors + NAME.json into `directory` (the caller enters it into the manifest)."""
        save_exported_model(directory, self.name, model, self.config, self.data, record)

    def export(self, model: nn.Module, directory: Path, record: dict) -> None:
        """The model into the bundle, fitted on the latents' VAE and codec."""
        self.save_model(model, directory, record)
        record_component(directory, self.name, self.fitted_on)


def main(task_class: type[LatentSpanTask], model_preset: str, train_preset: str,
         argv: Sequence[str] | None = None) -> None:
    """The CLI of a sequence model; `model_preset` / `train_preset` name its `train.presets.Preset` fields."""
    template = preset("paper")  # its config types give the override flags
    parser = training_parser(f"python -m train.train_{task_class.name}",
                             f"Train the {task_class.name} model on latent sequences written by `python -m train.encode`.",
                             data_default=Path("data/latents_music21.npz"), data_help="latents from train.encode",
                             out_default=Path(f"runs/{task_class.name}"),
                             config_classes=((type(getattr(template, model_preset)), "model size"),
                                             (type(getattr(template, train_preset)), "training")))
    args = parser.parse_args(argv)
    try:
        chosen = preset(args.config)
        model_config = getattr(chosen, model_preset)
        config = apply_overrides(getattr(chosen, train_preset), args)
    except ValueError as error:
        parser.error(str(error))

    def make_task() -> LatentSpanTask:
        latents = LatentSequences.load(args.data)
        decoder_dir = None
        if args.export is not None:
            check_export_target(args.export, latents)
            has_decoder = all((args.export / f"{name}.safetensors").is_file() for name in ("vae", "codec"))
            decoder_dir = args.export if has_decoder else None
        fitted = task_class.fitted_config(model_config, latents, config)
        return task_class(latents, args.data, apply_overrides(fitted, args), config, decoder_dir)

    run_training(parser, args, config, make_task)
