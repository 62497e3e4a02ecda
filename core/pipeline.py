"""The user-facing pipeline: one model directory in, melodies (events, MIDI, latents) out.

A model directory holds `vae.*`, `codec.*` and, once trained, `diffusion.*` and `mdn.*`
(safetensors + JSON each). Data flows one way: sampler -> normalized latents -> codec
inverse -> VAE decode -> 2-bar chunks -> melody -> MIDI. Same seed, same arguments:
identical output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pretty_midi
import torch

from core.constants import (
    BARS_PER_CHUNK,
    CHUNKS_PER_WINDOW,
    DEFAULT_PROGRAM,
    DEFAULT_TEMPO_BPM,
    FIRST_NOTE_TOKEN,
    NO_EVENT,
    NOTE_OFF,
)
from core.denoiser import load_denoiser
from core.latent_baselines import interpolate_gaps, prior_latents
from core.latents import LatentCodec
from core.mdn import load_mdn
from core.melody import has_notes, padded_length, split_into_chunks, validate_melody
from core.midi_io import melody_to_pretty_midi
from core.samplers import ProgressCallback, sample, sample_windowed
from core.schedule import NoiseSchedule
from core.vae import load_vae

DEFAULT_REST_TOLERANCE = 0.05  # RMS distance to the rest point below which a latent is a rest
MAX_BARS = 1024
INFILL_METHODS = ("diffusion", "interpolation", "prior")
BarRange = tuple[int, int]


@dataclass
class MelodyResult:
    melody: np.ndarray  # (T,) int8 tokens, T = bars * 16
    midi: pretty_midi.PrettyMIDI
    latents: torch.Tensor  # (K, D) normalized latents, K = bars / 2
    regenerated: np.ndarray  # (K,) bool, True for chunks the model produced
    intermediates: list[tuple[int, torch.Tensor]] = dataclasses.field(default_factory=list)  # (t, (K, D) x0)


def chunks_for_bars(bars: int) -> int:
    """Number of 2-bar latents for a request of `bars` bars; raises for bad requests."""
    if not isinstance(bars, (int, np.integer)) or bars <= 0 or bars % BARS_PER_CHUNK:
        raise ValueError(f"bars must be a positive even number (2-bar latents), got {bars!r}")
    if bars > MAX_BARS:
        raise ValueError(f"bars must be at most {MAX_BARS}, got {bars}")
    return bars // BARS_PER_CHUNK


def chunk_mask_for_bars(bar_ranges: BarRange | Sequence[BarRange], num_chunks: int) -> np.ndarray:
    """1-based inclusive bar range(s) -> (num_chunks,) bool, rounded outward to whole 2-bar chunks."""
    if bar_ranges and isinstance(bar_ranges[0], (int, np.integer)):
        bar_ranges = [bar_ranges]
    if not bar_ranges:
        raise ValueError("name at least one bar range to regenerate, e.g. 17-48")
    total_bars = num_chunks * BARS_PER_CHUNK
    mask = np.zeros(num_chunks, dtype=bool)
    for first, last in bar_ranges:
        if not 1 <= first <= last:
            raise ValueError(f"bars to regenerate must satisfy 1 <= first <= last, got {first}-{last}")
        if last > total_bars:
            raise ValueError(f"bars {first}-{last} reach past the melody's {total_bars} bars")
        mask[(first - 1) // BARS_PER_CHUNK : (last - 1) // BARS_PER_CHUNK + 1] = True
    if mask.all():
        raise ValueError(f"the bars to regenerate cover the whole {total_bars}-bar melody: nothing known is left "
                         "to infill around; use generate instead, or regenerate fewer bars")
    return mask


def join_chunks(chunks: np.ndarray, rests: np.ndarray) -> np.ndarray:
    """(K, 32) chunks -> (K * 32,) melody. A rest chunk starts with NOTE_OFF so that it is
    silent; other chunks continue a held note through their leading holds."""
    chunks = chunks.copy()
    sounding = False  # does a note sound at the end of the previous chunk?
    for chunk, is_rest in zip(chunks, rests):
        if is_rest and sounding and chunk[0] == NO_EVENT:
            chunk[0] = NOTE_OFF
        events = chunk[chunk != NO_EVENT]
        if events.size:
            sounding = bool(events[-1] >= FIRST_NOTE_TOKEN)
    return chunks.reshape(-1)  # (K * 32,)


class MelodyPipeline:
    def __init__(self, model_dir: str | Path, device: str = "cpu"):
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "vae.json").is_file():
            raise FileNotFoundError(f"{self.model_dir} is not a model directory (no vae.json)")
        self.device = torch.device(device)
        self.vae = load_vae(self.model_dir, device)
        self.codec = LatentCodec.load(self.model_dir)
        self.schedule = NoiseSchedule.linear()
        self.denoiser = load_denoiser(self.model_dir, device) if (self.model_dir / "diffusion.json").is_file() else None
        self.mdn = load_mdn(self.model_dir, device) if (self.model_dir / "mdn.json").is_file() else None

    # -- latents <-> chunks ---------------------------------------------------------------

    def rest_latents(self, latents: torch.Tensor, tolerance: float) -> np.ndarray:
        """(K, D) normalized latents -> (K,) bool, True within `tolerance` RMS of the rest point."""
        distance = (latents.cpu() - self.codec.rest_point).square().mean(-1).sqrt()
        return (distance < tolerance).numpy()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, rest_tolerance: float = DEFAULT_REST_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
        """(K, D) normalized latents -> ((K, 32) chunks, (K,) rest flags)."""
        rests = self.rest_latents(latents, rest_tolerance)
        z = self.codec.inverse(latents.to(self.device))
        z[torch.from_numpy(rests).to(self.device)] = 0.0  # the zero latent decodes to silence
        return self.vae.decode(z).cpu().numpy().astype(np.int8), rests

    def decode_melodies(self, latents: torch.Tensor) -> list[np.ndarray]:
        """(N, K, D) normalized latents -> N melodies, each (K * 32,) tokens."""
        return [join_chunks(*self.decode(sequence)) for sequence in latents]

    @torch.no_grad()
    def encode(self, chunks: np.ndarray) -> torch.Tensor:
        """(K, 32) chunks -> (K, D) normalized latents (posterior means)."""
        mu, _ = self.vae.encode(torch.as_tensor(chunks, dtype=torch.long, device=self.device))
        return self.codec.transform(mu).cpu()

    def _result(self, chunks: np.ndarray, rests: np.ndarray, latents: torch.Tensor, regenerated: np.ndarray,
                tempo_bpm: float, program: int) -> MelodyResult:
        melody = join_chunks(chunks, rests)
        return MelodyResult(melody, melody_to_pretty_midi(melody, tempo_bpm, program), latents, regenerated)

    # -- generation -----------------------------------------------------------------------

    def generate(
        self,
        bars: int = 64,
        seed: int = 0,
        model: str = "diffusion",
        sampler: str = "fast",
        steps: int | None = None,
        windowed: bool = False,
        temperature: float = 1.0,
        tempo_bpm: float = DEFAULT_TEMPO_BPM,
        program: int = DEFAULT_PROGRAM,
        callback: ProgressCallback | Callable[[int, int], None] | None = None,
        keep_every: int = 0,
    ) -> MelodyResult:
        """A new melody of `bars` bars (any even number, also longer than the 64 trained on).

        model "diffusion" samples all latents jointly (`windowed` slides 32-latent windows
        with 8 latents of overlap instead of attending over the whole length); "mdn" samples
        the TransformerMDN baseline one latent at a time at `temperature`. `keep_every` > 0
        keeps the diffusion sampler's x0 estimate every that many steps in `intermediates`
        (not for windowed sampling or the MDN).
        """
        num_chunks = chunks_for_bars(bars)
        generator = torch.Generator().manual_seed(int(seed))
        intermediates: list[tuple[int, torch.Tensor]] = []
        if model == "diffusion":
            denoiser = self._require(self.denoiser, "diffusion")
            dims = denoiser.config.data_dims
            if windowed and num_chunks > CHUNKS_PER_WINDOW:
                latents = sample_windowed(denoiser, self.schedule, num_chunks, CHUNKS_PER_WINDOW, 8, 1, dims,
                                          generator, callback, sampler=sampler, steps=steps)[0]
            else:
                sampled = sample(denoiser, self.schedule, (1, num_chunks, dims), generator, sampler, steps,
                                 callback=callback, keep_every=keep_every)
                latents = sampled.latents[0]
                intermediates = [(t, x0[0].cpu()) for t, x0 in sampled.intermediates]
        elif model == "mdn":
            mdn = self._require(self.mdn, "mdn")
            latents = mdn.sample(1, num_chunks, generator, temperature, CHUNKS_PER_WINDOW, callback)[0]
        else:
            raise ValueError(f"model must be 'diffusion' or 'mdn', got {model!r}")
        chunks, rests = self.decode(latents.cpu())
        result = self._result(chunks, rests, latents.cpu(), np.ones(num_chunks, bool), tempo_bpm, program)
        result.intermediates = intermediates
        return result

    def infill(
        self,
        melody: np.ndarray,
        bars_to_regenerate: BarRange | Sequence[BarRange],
        seed: int = 0,
        sampler: str = "fast",
        steps: int | None = None,
        resample: int = 0,
        tempo_bpm: float = DEFAULT_TEMPO_BPM,
        program: int = DEFAULT_PROGRAM,
        callback: ProgressCallback | None = None,
        method: str = "diffusion",
    ) -> MelodyResult:
        """Regenerate the 1-based inclusive bar range(s) of `melody` (T,) tokens, keeping the rest.

        Ranges are rounded outward to 2-bar latents; kept chunks are copied note for note.
        method "diffusion" infills with the diffusion model; "interpolation" (spherical, in
        the VAE's space, between the latents bordering each gap) and "prior" (z ~ N(0, I))
        are the paper's baselines.
        """
        if method not in INFILL_METHODS:
            raise ValueError(f"method must be one of {', '.join(INFILL_METHODS)}, got {method!r}")
        melody = validate_melody(melody)
        if not has_notes(melody):
            raise ValueError("the melody has no notes: there is nothing to infill around")
        padded = np.zeros(padded_length(melody.size), dtype=np.int8)
        padded[: melody.size] = melody
        chunks = split_into_chunks(padded)  # (K, 32)
        if len(chunks) * BARS_PER_CHUNK > MAX_BARS:
            raise ValueError(f"the melody is {len(chunks) * BARS_PER_CHUNK} bars long; infilling takes at most "
                             f"{MAX_BARS} bars, so trim the file first")
        regenerate = chunk_mask_for_bars(bars_to_regenerate, len(chunks))
        known = self.encode(chunks)  # (K, D)
        generator = torch.Generator().manual_seed(int(seed))
        if method == "diffusion":
            denoiser = self._require(self.denoiser, "diffusion")
            latents = sample(denoiser, self.schedule, (1, *known.shape), generator, sampler, steps,
                             known=known[None], mask=torch.from_numpy(~regenerate), resample=resample,
                             callback=callback).latents[0].cpu()
        elif method == "interpolation":
            latents = self.codec.transform(interpolate_gaps(self.codec.inverse(known), ~regenerate))
        else:
            latents = torch.where(torch.from_numpy(regenerate)[:, None],
                                  prior_latents(self.codec, tuple(known.shape), generator), known)
        decoded, rests = self.decode(latents)
        out_chunks = np.where(regenerate[:, None], decoded, chunks)
        out_rests = regenerate & rests
        return self._result(out_chunks, out_rests, latents, regenerate, tempo_bpm, program)

    def _require(self, model, name: str):
        if model is None:
            raise ValueError(f"{self.model_dir} has no {name} model ({name}.json); train one with "
                             f"`python -m train.train_{name} --export {self.model_dir}`")
        return model


def parse_bar_ranges(text: str) -> list[BarRange]:
    """'17-48' -> [(17, 48)]; '5, 9-12' -> [(5, 5), (9, 12)] (1-based, inclusive)."""
    ranges: list[BarRange] = []
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            values = [int(value) for value in part.split("-")]
        except ValueError:
            values = []
        if len(values) not in (1, 2):
            raise ValueError("bars must look like FIRST-LAST (1-based, inclusive), e.g. 17-48, or several "
                             f"ranges separated by commas, e.g. 5-8, 17-24; got {text!r}")
        ranges.append((values[0], values[-1]))
    if not ranges:
        raise ValueError("name the bars to regenerate, e.g. 17-48")
    return ranges
