"""The user-facing pipeline: one model bundle in, melodies (events, MIDI, latents) out.

A model bundle (`core.bundle`) holds `vae`, `codec`, `schedule` and, once trained,
`diffusion` and `mdn`; loading checks that they belong together. Data flows one way:
sampler -> normalized latents -> codec inverse -> VAE decode -> 2-bar chunks -> melody ->
MIDI. Requests are keyword-only dataclasses that own their limits (`core.limits`); each
call makes one melody per seed in one batched sampler call, and every seed's melody is the
same whatever other seeds share its batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pretty_midi
import torch

from core.bundle import REBUILD_HINTS, bundle_fingerprint, check_bundle
from core.constants import (
    BARS_PER_CHUNK,
    CHUNKS_PER_WINDOW,
    DEFAULT_PROGRAM,
    DEFAULT_TEMPO_BPM,
    FIRST_NOTE_TOKEN,
    NO_EVENT,
    NOTE_OFF,
    STEPS_PER_BAR,
)
from core.denoiser import GuidedDenoiser, load_denoiser
from core.forms import STYLE_FORM, Form, check_form_name, draw_form, read_forms, representatives
from core.keys import normalizing_shift, parse_key, style_key, transpose_melody, transpose_to_key
from core.latent_baselines import interpolate_gaps, prior_latents
from core.latents import LatentCodec
from core.limits import (
    MAX_BARS,
    MAX_GUIDANCE,
    MAX_PROGRAM,
    MAX_RESAMPLE,
    MAX_SEED,
    MAX_SEEDS_PER_REQUEST,
    MAX_STEPS,
    MAX_TEMPERATURE,
    MAX_TEMPO_BPM,
    MIN_BARS,
    MIN_TEMPO_BPM,
)
from core.mdn import load_mdn
from core.melody import has_notes, padded_length, split_into_chunks, validate_melody
from core.midi_io import melody_to_pretty_midi
from core.noise import seeded_generators
from core.registers import join_registers, joins_registers
from core.repeats import kept_sources, restate_phrases
from core.tonality import keep_in_key, keeps_key
from core.samplers import (
    SAMPLER_NAMES,
    ProgressCallback,
    get_sampler,
    infill,
    initial_noise,
    sample_tied,
    sample_windowed,
)
from core.schedule import NoiseSchedule
from core.transformer import ANY_STYLE
from core.vae import load_vae

DEFAULT_REST_TOLERANCE = 0.05  # RMS distance to the rest point below which a latent is a rest
WINDOW_OVERLAP = 8  # latents each window shares with the previous one in windowed long generation
MODELS = ("diffusion", "mdn", "prior")  # prior: z ~ N(0, I) per latent, the paper's baseline
INFILL_METHODS = ("diffusion", "interpolation", "prior")
DEFAULT_STYLE = "folk"  # the style and length whose generations come closest to real melodies (README)
DEFAULT_BARS = 32
DEFAULT_GUIDANCE = 2.0  # classifier-free guidance: 0 unconditional, 1 conditional, above 1 stronger
BarRange = tuple[int, int]


@dataclass
class MelodyResult:
    seed: int
    melody: np.ndarray  # (T,) int8 tokens, T = bars * 16
    midi: pretty_midi.PrettyMIDI
    latents: torch.Tensor  # (K, D) normalized latents it was decoded from (before key and registers), K = bars / 2
    regenerated: np.ndarray  # (K,) bool, True for chunks the model produced
    form: Form = ()  # the lags it was sampled with (`core.forms`); () for infilled results


def _check_whole(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class RenderOptions:
    """How a melody becomes MIDI: tempo and General MIDI program."""

    tempo_bpm: float = DEFAULT_TEMPO_BPM
    program: int = DEFAULT_PROGRAM

    def __post_init__(self) -> None:
        if not MIN_TEMPO_BPM <= self.tempo_bpm <= MAX_TEMPO_BPM:
            raise ValueError(f"tempo_bpm must lie in {MIN_TEMPO_BPM:g}..{MAX_TEMPO_BPM:g} beats per minute, "
                             f"got {self.tempo_bpm}")
        _check_whole("program", self.program, 0, MAX_PROGRAM)


@dataclass(frozen=True, kw_only=True)
class SamplingOptions:
    """What draws the latents: the model, its sampler and step count, and the seeds (one melody each)."""

    seeds: tuple[int, ...] = (0,)
    model: str = "diffusion"
    sampler: str = "fast"
    steps: int | None = None  # None: the sampler's default
    temperature: float = 1.0  # TransformerMDN only
    style: str = DEFAULT_STYLE  # a style label of the model, or "any"
    guidance: float = DEFAULT_GUIDANCE  # 0 ignores the style; the TransformerMDN takes the label for any value > 0
    form: str = STYLE_FORM  # a name of core.forms.FORM_CHOICES: which latents are drawn tied (new melodies only)

    def __post_init__(self) -> None:
        if not 1 <= len(self.seeds) <= MAX_SEEDS_PER_REQUEST:
            raise ValueError(f"seeds must hold 1 to {MAX_SEEDS_PER_REQUEST} seeds, got {len(self.seeds)}")
        for seed in self.seeds:
            _check_whole("seed", seed, 0, MAX_SEED)
        _check_choice("model", self.model, MODELS)
        _check_choice("sampler", self.sampler, SAMPLER_NAMES)
        if self.steps is not None:
            _check_whole("steps", self.steps, 1, MAX_STEPS)
        if not 0 < self.temperature <= MAX_TEMPERATURE:
            raise ValueError(f"temperature must lie in (0, {MAX_TEMPERATURE:g}], got {self.temperature}")
        if not 0 <= self.guidance <= MAX_GUIDANCE:
            raise ValueError(f"guidance must lie in 0..{MAX_GUIDANCE:g} (0 = no style), got {self.guidance}")
        if not isinstance(self.style, str) or not self.style:
            raise ValueError(f"style must be a style label or {ANY_STYLE!r}, got {self.style!r}")
        check_form_name(self.form)


@dataclass(frozen=True, kw_only=True)
class PhrasingOptions:
    """Whether the decoded phrases are shaped as real melodies of the requested style are
    (`MelodyPipeline.decode_sequences`): folk and renaissance keep them in the melody's key,
    renaissance joins their registers, and infilled folk bars restate nearby phrases."""

    phrasing: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.phrasing, bool):
            raise ValueError(f"phrasing must be true or false, got {self.phrasing!r}")


@dataclass(frozen=True, kw_only=True)
class GenerationRequest(SamplingOptions, RenderOptions, PhrasingOptions):
    """A new melody of `bars` bars per seed (any even number up to MAX_BARS, also past the 64
    trained on). `windowed` slides 32-latent windows with WINDOW_OVERLAP latents of overlap
    instead of attending over the whole length. `form` says which latents restate which (drawn
    tied: `core.forms`; the default draws the form of one of the style's training tunes).
    `phrasing` shapes the decoded phrases: folk and renaissance bring phrases that wander into
    another key back to the melody's (`core.tonality`), renaissance joins their registers (each
    decoded 2-bar phrase moved by octaves so the line moves on from where it was:
    `core.registers`). `key` moves the finished melody so that its best-fitting major scale is
    that key; None leaves a key-normalized model's melodies in their style's key
    (`core.keys.style_key`) and other models' melodies as drawn. (The sampler's x0 estimates
    along the way reach the `callback` of `MelodyPipeline.generate`.)"""

    bars: int = DEFAULT_BARS
    windowed: bool = False
    key: str | None = None  # major key name ("D", "Eb"): the melody's best-fitting scale; None: the style's own

    def __post_init__(self) -> None:
        SamplingOptions.__post_init__(self)
        RenderOptions.__post_init__(self)
        PhrasingOptions.__post_init__(self)
        chunks_for_bars(self.bars)
        if self.key is not None:
            parse_key(self.key)


@dataclass(frozen=True, kw_only=True)
class InfillRequest(SamplingOptions, RenderOptions, PhrasingOptions):
    """Regenerate the 1-based inclusive bar range(s) of `melody` (T,) tokens, keeping the rest.

    Ranges are rounded outward to 2-bar latents; kept chunks are copied note for note.
    method "diffusion" infills with the diffusion model; "interpolation" (spherical, in the
    VAE's space, between the latents bordering each gap) and "prior" (z ~ N(0, I)) are the
    paper's baselines. resample: extra RePaint rounds per step (smoother joins).
    extend_bars: an even number of silent bars appended to the melody (after its last 2-bar
    latent) before infilling; regenerating them continues the melody (`continuation`).
    phrasing: as for `GenerationRequest`, on the regenerated bars only: they may restate the
    kept bars (note for note), come back to the melody's key and move by octaves to meet them.
    A key-normalized model works on the melody moved into C and the result is moved back, so
    the new bars are in the melody's own key and the kept bars are its own notes.
    """

    melody: np.ndarray
    bars_to_regenerate: tuple[BarRange, ...]
    method: str = "diffusion"
    resample: int = 0
    extend_bars: int = 0

    def __post_init__(self) -> None:
        SamplingOptions.__post_init__(self)
        RenderOptions.__post_init__(self)
        PhrasingOptions.__post_init__(self)
        _check_choice("method", self.method, INFILL_METHODS)
        if self.model != "diffusion":
            raise ValueError(f"infilling uses the diffusion model (or method='interpolation' / 'prior'), "
                             f"got model={self.model!r}")
        ranges = self.bars_to_regenerate
        if ranges and isinstance(ranges[0], (int, np.integer)):
            ranges = (ranges,)  # one range given as (first, last)
        object.__setattr__(self, "bars_to_regenerate", tuple(tuple(r) for r in ranges))
        _check_whole("resample", self.resample, 0, MAX_RESAMPLE)
        _check_whole("extend_bars", self.extend_bars, 0, MAX_BARS)
        if self.extend_bars % BARS_PER_CHUNK:
            raise ValueError(f"extend_bars must be an even number (2-bar latents), got {self.extend_bars}")
        melody = validate_melody(self.melody)
        if not has_notes(melody):
            raise ValueError("the melody has no notes: there is nothing to infill around")
        bars = padded_length(melody.size) // STEPS_PER_BAR + self.extend_bars
        if bars > MAX_BARS:
            extended = f" with the {self.extend_bars} new bars" if self.extend_bars else ""
            raise ValueError(f"the melody is {bars} bars long{extended}; infilling takes at most {MAX_BARS} bars, "
                             "so trim the file first" + (" or add fewer bars" if extended else ""))
        chunk_mask_for_bars(self.bars_to_regenerate, bars // BARS_PER_CHUNK)


def continuation(melody: np.ndarray, bars: int, **fields) -> InfillRequest:
    """A request that continues `melody` (T,) by `bars` new bars (an even number) after its last
    2-bar latent, keeping all of it; `fields`: the other InfillRequest fields."""
    chunks_for_bars(bars)
    first = padded_length(validate_melody(melody).size) // STEPS_PER_BAR + 1
    return InfillRequest(melody=melody, bars_to_regenerate=((first, first + bars - 1),), extend_bars=bars, **fields)


def chunks_for_bars(bars: int) -> int:
    """Number of 2-bar latents for a request of `bars` bars; raises for bad requests."""
    if isinstance(bars, bool) or not isinstance(bars, (int, np.integer)) or bars <= 0 or bars % BARS_PER_CHUNK:
        raise ValueError(f"bars must be a positive even number (2-bar latents), got {bars!r}")
    if not MIN_BARS <= bars <= MAX_BARS:
        raise ValueError(f"bars must lie in {MIN_BARS}..{MAX_BARS}, got {bars}")
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
        if not 1 <= first <= last <= total_bars:
            raise ValueError(f"bars {first}-{last} cannot be regenerated: the melody has bars 1 to {total_bars}, so "
                             f"give FIRST-LAST with 1 <= FIRST <= LAST <= {total_bars}, e.g. 1-{min(4, total_bars)}")
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
    """Loads a model bundle once and turns requests into melodies."""

    def __init__(self, model_dir: str | Path, device: str = "cpu"):
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise FileNotFoundError(f"{self.model_dir} is not a model directory")
        bundle = check_bundle(self.model_dir)
        self.fingerprint = bundle_fingerprint(self.model_dir)  # names these exact weights (share links)
        self.device = torch.device(device)
        self.vae = load_vae(self.model_dir, device)
        self.codec = LatentCodec.load(self.model_dir)
        self.schedule = NoiseSchedule.load(self.model_dir)
        self.denoiser = load_denoiser(self.model_dir, device) if bundle.has("diffusion") else None
        self.mdn = load_mdn(self.model_dir, device) if bundle.has("mdn") else None
        self.corpus_forms = read_forms(self.model_dir)  # style -> forms of its training tunes
        if self.codec.z_size != self.vae.config.z_size:
            raise ValueError(f"the codec in {self.model_dir} maps {self.codec.z_size}-dim latents but the VAE's "
                             f"z has {self.vae.config.z_size} dims; {self._hint('codec')}")
        for name, model in (("diffusion", self.denoiser), ("mdn", self.mdn)):
            if model is not None and model.config.data_dims != self.codec.data_dims:
                raise ValueError(f"the {name} model in {self.model_dir} takes {model.config.data_dims}-dim latents "
                                 f"but the codec gives {self.codec.data_dims}; {self._hint(name)}")

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
        """(N, K, D) normalized latents -> N melodies, each (K * 32,) tokens, in one VAE call."""
        n, k, d = latents.shape
        chunks, rests = self.decode(latents.reshape(n * k, d))  # (N * K, 32), (N * K,)
        return [join_chunks(chunks[i * k : (i + 1) * k], rests[i * k : (i + 1) * k]) for i in range(n)]

    def decode_sequences(self, latents: torch.Tensor, style: str, guidance: float, phrasing: bool,
                         known_chunks: np.ndarray | None = None, regenerate: np.ndarray | None = None,
                         restate: bool = True) -> tuple[torch.Tensor, list[tuple[np.ndarray, np.ndarray]]]:
        """(S, K, D) sequences sampled for `style` at `guidance` -> (the (S, K, D) latents the melodies
        come from; per sequence, its (K, 32) chunks and (K,) rest flags).

        Infilling passes the melody's (K, 32) `known_chunks` and the (K,) bool `regenerate` mask:
        kept chunks are the melody's own notes. With `phrasing`, the phrases are shaped as real
        melodies of the style are: with `restate` (infilling; new melodies are drawn with their form
        instead), restated where the style calls for it (`core.repeats`; only regenerated latents
        become copies, and a copy of a kept latent plays that chunk's own notes), then the phrases
        that wander into another key brought back to the melody's key
        (`core.tonality`; the kept chunks count towards the key but never change), then their
        registers joined (`core.registers`; only regenerated chunks move), each where the style
        calls for it."""
        regenerate = np.ones(latents.shape[1], dtype=bool) if regenerate is None else regenerate
        if phrasing and restate:
            latents = restate_phrases(latents, style, guidance, movable=torch.from_numpy(regenerate))
        in_key = phrasing and keeps_key(style, guidance)
        join = phrasing and joins_registers(style, guidance)
        decoded = []
        for sequence in latents:
            chunks, rests = self.decode(sequence)
            if known_chunks is not None:
                source = kept_sources(sequence, torch.from_numpy(~regenerate)).numpy()  # (K,)
                chunks[source >= 0] = known_chunks[source[source >= 0]]
                rests &= source < 0
            if in_key:
                chunks = keep_in_key(chunks, regenerate)
            if join:
                chunks = join_registers(chunks, regenerate)
            decoded.append((chunks, rests))
        return latents, decoded

    @torch.no_grad()
    def encode(self, chunks: np.ndarray) -> torch.Tensor:
        """(K, 32) chunks -> (K, D) normalized latents (posterior means)."""
        mu, _ = self.vae.encode(torch.as_tensor(chunks, dtype=torch.long, device=self.device))
        return self.codec.transform(mu).cpu()

    # -- latents --------------------------------------------------------------------------

    def forms_for(self, options: SamplingOptions, num_chunks: int) -> list[Form]:
        """The form of each seed's melody (`core.forms.draw_form`); guidance 0 asks for no style."""
        style = options.style if options.guidance > 0 and options.style != ANY_STYLE else None
        return [draw_form(options.form, num_chunks, style, self.corpus_forms, seed) for seed in options.seeds]

    def sample_latents(self, options: SamplingOptions, num_chunks: int, windowed: bool = False, keep_every: int = 0,
                       callback: ProgressCallback | None = None
                       ) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]], list[Form]]:
        """New normalized latents, one sequence per seed, drawn with their forms (tied restatements;
        the windowed sampler and the prior draw every melody free): ((S, K, D), [(t, (S, K, D) x0),
        ...], the S forms)."""
        generators = seeded_generators(options.seeds)
        free = [(0,) * num_chunks] * len(generators)
        if options.model == "prior":
            shape = (num_chunks, self.codec.data_dims)
            return torch.stack([prior_latents(self.codec, shape, g) for g in generators]), [], free
        forms = self.forms_for(options, num_chunks)
        firsts = torch.tensor([representatives(form) for form in forms])  # (S, K)
        if options.model == "mdn":
            mdn = self._require(self.mdn, "mdn")
            style = self._style_indices(mdn, options, len(generators)) if options.guidance > 0 else None
            latents = mdn.sample(len(generators), num_chunks, generators, options.temperature, CHUNKS_PER_WINDOW,
                                 callback, style, firsts)
            return latents.cpu(), [], forms
        denoiser = self._guided_denoiser(options, len(generators))
        sampler = get_sampler(options.sampler)
        dims = denoiser.config.data_dims
        if windowed and num_chunks > CHUNKS_PER_WINDOW:
            latents = sample_windowed(sampler, denoiser, self.schedule, num_chunks, CHUNKS_PER_WINDOW, WINDOW_OVERLAP,
                                      len(generators), dims, generators, steps=options.steps, callback=callback)
            return latents.cpu(), [], free
        noise = initial_noise((len(generators), num_chunks, dims), generators, self.device)
        sampled = sample_tied(sampler, denoiser, self.schedule, noise, firsts, generators, steps=options.steps,
                              callback=callback, keep_every=keep_every)
        return sampled.latents.cpu(), [(t, x0.cpu()) for t, x0 in sampled.intermediates], forms

    def infill_latents(self, options: SamplingOptions, known: torch.Tensor, regenerate: np.ndarray,
                       method: str = "diffusion", resample: int = 0,
                       callback: ProgressCallback | None = None) -> torch.Tensor:
        """Replace the latents where `regenerate` (K,) is True, one result per seed.

        known: (K, D) or (S, K, D) normalized latents (one sequence for all seeds, or one per
        seed). Returns (S, K, D); the kept latents are exactly `known`.
        """
        _check_choice("method", method, INFILL_METHODS)
        generators = seeded_generators(options.seeds)
        known = known.expand(len(generators), *known.shape[-2:]) if known.ndim == 2 else known
        if known.shape[0] != len(generators):
            raise ValueError(f"known holds {known.shape[0]} sequences for {len(generators)} seeds")
        keep = torch.from_numpy(~regenerate)
        if method == "interpolation":
            filled = torch.stack([interpolate_gaps(z, ~regenerate) for z in self.codec.inverse(known)])
            return torch.where(keep[None, :, None], known, self.codec.transform(filled))
        if method == "prior":
            prior = torch.stack([prior_latents(self.codec, tuple(known.shape[1:]), g) for g in generators])
            return torch.where(keep[None, :, None], known, prior)
        denoiser = self._guided_denoiser(options, len(generators))
        noise = initial_noise(tuple(known.shape), generators, self.device)
        return infill(get_sampler(options.sampler), denoiser, self.schedule, noise, known.to(self.device), keep,
                      generators, steps=options.steps, resample=resample, callback=callback).latents.cpu()

    # -- melodies -------------------------------------------------------------------------

    def generate(self, request: GenerationRequest, callback: ProgressCallback | None = None) -> list[MelodyResult]:
        """One new melody per seed of the request."""
        return self._generate(request, [request] * len(request.seeds), callback)

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[list[MelodyResult]]:
        """`generate` for several requests at once: one result list per request, in order.

        Requests that differ only in their seeds and rendering (tempo, program) are sampled
        together, up to MAX_SEEDS_PER_REQUEST seeds per sampler call; every melody is the one
        its request alone would give (see `generate`), rendered with its own request's tempo
        and program."""
        groups: dict[GenerationRequest, list[int]] = {}
        for index, request in enumerate(requests):
            sampling = dataclasses.replace(request, seeds=(0,), tempo_bpm=DEFAULT_TEMPO_BPM, program=DEFAULT_PROGRAM)
            groups.setdefault(sampling, []).append(index)
        answers: list[list[MelodyResult]] = [[] for _ in requests]
        for sampling, members in groups.items():
            owners = [index for index in members for _ in requests[index].seeds]  # (S,) request of each seed
            seeds = [seed for index in members for seed in requests[index].seeds]
            for start in range(0, len(seeds), MAX_SEEDS_PER_REQUEST):
                part = slice(start, start + MAX_SEEDS_PER_REQUEST)
                results = self._generate(dataclasses.replace(sampling, seeds=tuple(seeds[part])),
                                         [requests[owner] for owner in owners[part]])
                for owner, result in zip(owners[part], results):
                    answers[owner].append(result)
        return answers

    def _generate(self, sampling: GenerationRequest, renders: Sequence[RenderOptions],
                  callback: ProgressCallback | None = None) -> list[MelodyResult]:
        """One new melody per seed of `sampling`, the i-th made into MIDI with renders[i]'s tempo and program."""
        num_chunks = chunks_for_bars(sampling.bars)
        latents, _, forms = self.sample_latents(sampling, num_chunks, sampling.windowed, callback=callback)
        latents, decoded = self.decode_sequences(latents, sampling.style, sampling.guidance, sampling.phrasing,
                                                 restate=False)
        regenerated = np.ones(num_chunks, dtype=bool)
        tonic = self.output_tonic(sampling)
        results = []
        for seed, sequence, (chunks, rests), render, form in zip(sampling.seeds, latents, decoded, renders, forms):
            if tonic is not None:
                chunks = transpose_to_key(chunks.reshape(-1), tonic).reshape(chunks.shape)
            results.append(self._result(seed, chunks, rests, sequence, regenerated, render, form))
        return results

    def output_tonic(self, request: GenerationRequest) -> int | None:
        """Pitch class of the key a generated melody is moved to; None: left as drawn. Guidance 0
        ignores the style, its key included."""
        if request.key is not None:
            return parse_key(request.key)
        if not self.vae.config.key_normalized:
            return None
        return parse_key(style_key(request.style if request.guidance > 0 else ANY_STYLE))

    def infill(self, request: InfillRequest, callback: ProgressCallback | None = None) -> list[MelodyResult]:
        """The request's melody with the chosen bars regenerated, one result per seed."""
        melody = validate_melody(request.melody)
        padded = np.zeros(padded_length(melody.size) + request.extend_bars * STEPS_PER_BAR, dtype=np.int8)
        padded[: melody.size] = melody
        chunks = split_into_chunks(padded)  # (K, 32)
        regenerate = chunk_mask_for_bars(request.bars_to_regenerate, len(chunks))
        shift = normalizing_shift(padded) if self.vae.config.key_normalized else 0  # into the model's key ...
        in_model_key = split_into_chunks(transpose_melody(padded, shift))  # (K, 32)
        latents = self.infill_latents(request, self.encode(in_model_key), regenerate, request.method,
                                      request.resample, callback)
        latents, decoded = self.decode_sequences(latents, request.style, request.guidance, request.phrasing,
                                                 in_model_key, regenerate)
        results = []
        for seed, sequence, (out_chunks, rests) in zip(request.seeds, latents, decoded):
            out_chunks = transpose_melody(out_chunks.reshape(-1), -shift).reshape(out_chunks.shape)  # ... and back
            out_chunks[~regenerate] = chunks[~regenerate]  # kept bars note for note
            results.append(self._result(seed, out_chunks, rests, sequence, regenerate, request))
        return results

    def _result(self, seed: int, chunks: np.ndarray, rests: np.ndarray, latents: torch.Tensor,
                regenerated: np.ndarray, render: RenderOptions, form: Form = ()) -> MelodyResult:
        melody = join_chunks(chunks, rests)
        midi = melody_to_pretty_midi(melody, render.tempo_bpm, render.program)
        return MelodyResult(seed, melody, midi, latents, regenerated, form)

    def styles(self) -> tuple[str, ...]:
        """The style labels the diffusion model knows (empty for a model trained without labels)."""
        return self._require(self.denoiser, "diffusion").config.style_labels

    def default_style(self) -> str:
        """DEFAULT_STYLE where the models know it, else "any" (say, a bundle trained like the paper)."""
        return DEFAULT_STYLE if DEFAULT_STYLE in self.styles() else ANY_STYLE

    def _style_indices(self, model, options: SamplingOptions, count: int) -> torch.Tensor:
        """(count,) the model's index of options.style; ValueError naming the known styles otherwise."""
        return torch.full((count,), model.config.style_index(options.style), dtype=torch.long, device=self.device)

    def _guided_denoiser(self, options: SamplingOptions, count: int) -> GuidedDenoiser:
        denoiser = self._require(self.denoiser, "diffusion")
        return GuidedDenoiser(denoiser, self._style_indices(denoiser, options, count), options.guidance)

    def _hint(self, component: str) -> str:
        return REBUILD_HINTS[component].replace("DIR", str(self.model_dir))

    def _require(self, model, name: str):
        if model is None:
            raise ValueError(f"the bundle {self.model_dir} has no {name} model; {self._hint(name)}")
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
