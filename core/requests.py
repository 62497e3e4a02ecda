"""What a user asks for: a new melody (`GenerationRequest`) or new bars in a melody (`InfillRequest`).

A request is composed of `SamplingOptions`, `RenderOptions` and `ShapingOptions` beside its own
fields. Every field is checked here, once, with `core.limits`, so the app, the CLI and Python
get the same message for the same mistake; values are normalized on the way in (8.0 bars: 8).
`of` takes the fields flat and sorts them into the parts; `replaced` changes some of them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from core.diffusion.samplers import SAMPLER_NAMES
from core.limits import (
    MAX_BARS,
    MAX_GUIDANCE,
    MAX_RESAMPLE,
    MAX_SEAM_CANDIDATES,
    MAX_SEED,
    MAX_SEEDS_PER_REQUEST,
    MAX_STEPS,
    MAX_TEMPERATURE,
    check_bars,
    check_bool,
    check_choice,
    check_number,
    check_program,
    check_tempo,
    check_whole,
    shown,
)
from core.music.constants import BARS_PER_CHUNK, DEFAULT_PROGRAM, DEFAULT_TEMPO_BPM, STEPS_PER_BAR
from core.music.forms import STYLE_FORM, check_form_name
from core.music.keys import parse_key
from core.music.melody import has_notes, padded_length, split_into_chunks, validate_melody
from core.nets.transformer import ANY_STYLE

MODELS = ("diffusion", "mdn", "prior")  # prior: z ~ N(0, I) per latent, the paper's baseline
INFILL_METHODS = ("diffusion", "interpolation", "prior")
DEFAULT_STYLE = "folk"  # the style and length whose generations come closest to real melodies (docs/evaluation.md)
DEFAULT_BARS = 32
DEFAULT_GUIDANCE = 2.0  # classifier-free guidance: 0 unconditional, 1 conditional, above 1 stronger
# infillings drawn per seed to keep the best-joined: 4 took folk seams within the kept bars' motion from 56% to 85%
DEFAULT_SEAM_CANDIDATES = 4
BarRange = tuple[int, int]


def _set(instance, name: str, value) -> None:
    """Store a normalized value in a frozen dataclass while it checks itself."""
    object.__setattr__(instance, name, value)


@dataclass(frozen=True, kw_only=True)
class RenderOptions:
    """How a melody becomes MIDI: tempo, General MIDI program, and velocities that follow the beat
    and the phrase (`dynamics`) or stay flat."""

    tempo_bpm: float = DEFAULT_TEMPO_BPM
    program: int = DEFAULT_PROGRAM
    dynamics: bool = True

    def __post_init__(self) -> None:
        _set(self, "tempo_bpm", check_tempo(self.tempo_bpm))
        _set(self, "program", check_program(self.program))
        check_bool("Dynamics", self.dynamics)


@dataclass(frozen=True, kw_only=True)
class SamplingOptions:
    """What draws the latents: the model, its sampler and step count, and the seeds (one melody each)."""

    seeds: tuple[int, ...] = (0,)
    model: str = "diffusion"
    sampler: str = "fast"
    steps: int | None = None  # None: the sampler's default
    temperature: float = 1.0  # TransformerMDN only
    style: str = DEFAULT_STYLE  # a style label of the model, or "any" (the pipeline checks it against its models)
    guidance: float = DEFAULT_GUIDANCE  # 0 ignores the style; the TransformerMDN takes the label for any value > 0
    form: str = STYLE_FORM  # a name of core.music.forms.FORM_CHOICES: which latents are drawn tied (new melodies only)

    def __post_init__(self) -> None:
        if not isinstance(self.seeds, (tuple, list)) or not 1 <= len(self.seeds) <= MAX_SEEDS_PER_REQUEST:
            raise ValueError(f"Seeds must be 1 to {MAX_SEEDS_PER_REQUEST} seeds, got {shown(self.seeds)}.")
        _set(self, "seeds", tuple(check_whole("Seed", seed, 0, MAX_SEED) for seed in self.seeds))
        check_choice("Model", self.model, MODELS)
        check_choice("Sampler", self.sampler, SAMPLER_NAMES)
        if self.steps is not None:
            _set(self, "steps", check_whole("Steps", self.steps, 1, MAX_STEPS))
        if check_number("Temperature", self.temperature, 0, MAX_TEMPERATURE) == 0:
            raise ValueError(f"Temperature must be above 0, got {shown(self.temperature)}.")
        _set(self, "temperature", float(self.temperature))
        _set(self, "guidance", check_number("Style strength (guidance)", self.guidance, 0, MAX_GUIDANCE))
        if not isinstance(self.style, str) or not self.style:
            raise ValueError(f"Style must be a style label or {ANY_STYLE!r}, got {shown(self.style)}.")
        check_form_name(self.form)


@dataclass(frozen=True, kw_only=True)
class ShapingOptions:
    """Whether the decoded phrases are shaped as real melodies of the requested style are
    (`core.shaping`: which style gets which step)."""

    phrasing: bool = True

    def __post_init__(self) -> None:
        check_bool("Phrasing (shape phrases)", self.phrasing)


PARTS = {"sampling": SamplingOptions, "render": RenderOptions, "shaping": ShapingOptions}


def _split(fields: dict) -> tuple[dict, dict[str, dict]]:
    """Flat fields -> (the request's own fields, {part name: that part's fields})."""
    names = {part: {f.name for f in dataclasses.fields(cls)} for part, cls in PARTS.items()}
    parts = {part: {k: v for k, v in fields.items() if k in names[part]} for part in PARTS}
    return {k: v for k, v in fields.items() if not any(k in n for n in names.values())}, parts


class _FromFlatFields:
    @classmethod
    def of(cls, **fields):
        """The request from flat fields, each part built from its own: `GenerationRequest.of(bars=8, seeds=(1,),
        tempo_bpm=90)`; a name no part and no request field has is a TypeError, as in any call."""
        own, parts = _split(fields)
        return cls(**own, **{part: PARTS[part](**values) for part, values in parts.items()})


@dataclass(frozen=True, kw_only=True)
class GenerationRequest(_FromFlatFields):
    """A new melody of `bars` bars per seed (any even number up to MAX_BARS, also past the 64
    trained on). `windowed` slides 32-latent windows instead of attending over the whole length.
    `key` moves the finished melody so that its best-fitting major scale is that key; None
    leaves a key-normalized model's melodies in their style's key (`core.music.keys.style_key`)
    and other models' melodies as drawn."""

    bars: int = DEFAULT_BARS
    windowed: bool = False
    key: str | None = None  # major key name ("D", "Eb"): the melody's best-fitting scale; None: the style's own
    sampling: SamplingOptions = SamplingOptions()
    render: RenderOptions = RenderOptions()
    shaping: ShapingOptions = ShapingOptions()

    def __post_init__(self) -> None:
        _set(self, "bars", check_bars(self.bars))
        _set(self, "windowed", bool(self.windowed))
        if self.key is not None:
            parse_key(self.key)

    @property
    def num_chunks(self) -> int:
        return self.bars // BARS_PER_CHUNK


@dataclass(frozen=True, kw_only=True, eq=False)
class InfillRequest(_FromFlatFields):
    """Regenerate the 1-based inclusive bar range(s) of `melody` (T,) tokens, keeping the rest.

    Ranges are rounded outward to 2-bar latents; kept chunks are copied note for note.
    method "diffusion" infills with the diffusion model; "interpolation" (spherical, in the
    VAE's space, between the latents bordering each gap) and "prior" (z ~ N(0, I)) are the
    paper's baselines. resample: extra RePaint rounds per step (smoother joins). seam_candidates:
    infillings the diffusion model draws per seed, of which the one whose new bars join the kept
    ones most like the kept music moves is kept (`MelodyPipeline.infill`; 1: the seed's own draw).
    extend_bars: an even number of silent bars appended to the melody (after its last 2-bar
    latent) before infilling; regenerating them continues the melody (`continuation`).
    Shaping applies to the regenerated bars only. Checking the request also lays out what the
    pipeline works on: `chunks`, the melody padded to whole latents plus the new bars, (K, 32),
    and `regenerate`, (K,) bool.
    """

    melody: np.ndarray
    bars_to_regenerate: tuple[BarRange, ...]
    method: str = "diffusion"
    resample: int = 0
    seam_candidates: int = DEFAULT_SEAM_CANDIDATES
    extend_bars: int = 0
    sampling: SamplingOptions = SamplingOptions()
    render: RenderOptions = RenderOptions()
    shaping: ShapingOptions = ShapingOptions()
    chunks: np.ndarray = field(init=False, repr=False)  # (K, 32) int8
    regenerate: np.ndarray = field(init=False, repr=False)  # (K,) bool

    def __post_init__(self) -> None:
        check_choice("Method", self.method, INFILL_METHODS)
        if self.sampling.model != "diffusion":
            raise ValueError(f"Infilling uses the diffusion model (or method 'interpolation' or 'prior'), "
                             f"got model {shown(self.sampling.model)}.")
        ranges = self.bars_to_regenerate
        if ranges and isinstance(ranges[0], (int, np.integer)):
            ranges = (ranges,)  # one range given as (first, last)
        _set(self, "bars_to_regenerate", tuple(tuple(r) for r in ranges))
        _set(self, "resample", check_whole("Resample", self.resample, 0, MAX_RESAMPLE))
        _set(self, "seam_candidates", check_whole("Seam candidates", self.seam_candidates, 1, MAX_SEAM_CANDIDATES))
        _set(self, "extend_bars", check_whole("Bars to add", self.extend_bars, 0, MAX_BARS))
        if self.extend_bars % BARS_PER_CHUNK:
            raise ValueError(f"Bars to add must be an even number (2-bar latents), got {self.extend_bars}.")
        melody = validate_melody(self.melody)
        if not has_notes(melody):
            raise ValueError("The melody has no notes: there is nothing to infill around.")
        bars = padded_length(melody.size) // STEPS_PER_BAR + self.extend_bars
        if bars > MAX_BARS:
            extended = f" with the {self.extend_bars} new bars" if self.extend_bars else ""
            raise ValueError(f"The melody is {bars} bars long{extended}; infilling takes at most {MAX_BARS} bars, "
                             "so trim the file first" + (" or add fewer bars." if extended else "."))
        padded = np.zeros(bars * STEPS_PER_BAR, dtype=np.int8)
        padded[: melody.size] = melody
        _set(self, "chunks", split_into_chunks(padded))
        _set(self, "regenerate", chunk_mask_for_bars(self.bars_to_regenerate, len(self.chunks)))

    @property
    def draws(self) -> int:
        """Infillings drawn per seed: `seam_candidates` with the diffusion model, one with a baseline."""
        return self.seam_candidates if self.method == "diffusion" else 1


def replaced(request: GenerationRequest | InfillRequest, **fields) -> GenerationRequest | InfillRequest:
    """`request` with some fields changed, given flat as for `of`: `replaced(request, seeds=(2,), phrasing=False)`;
    the new request checks itself as any other."""
    own, parts = _split(fields)
    changed = {part: dataclasses.replace(getattr(request, part), **values) for part, values in parts.items() if values}
    return dataclasses.replace(request, **own, **changed)


def continuation(melody: np.ndarray, bars: int, **fields) -> InfillRequest:
    """A request that continues `melody` (T,) by `bars` new bars (an even number) after its last
    2-bar latent, keeping all of it; `fields`: the other InfillRequest fields, flat."""
    bars = check_bars(bars, "Bars to add")
    first = padded_length(validate_melody(melody).size) // STEPS_PER_BAR + 1
    return InfillRequest.of(melody=melody, bars_to_regenerate=((first, first + bars - 1),), extend_bars=bars,
                            **fields)


def chunk_mask_for_bars(bar_ranges: BarRange | Sequence[BarRange], num_chunks: int) -> np.ndarray:
    """1-based inclusive bar range(s) -> (num_chunks,) bool, rounded outward to whole 2-bar chunks."""
    if bar_ranges and isinstance(bar_ranges[0], (int, np.integer)):
        bar_ranges = [bar_ranges]
    if not bar_ranges:
        raise ValueError("Name at least one bar range to regenerate, e.g. 17-48.")
    total_bars = num_chunks * BARS_PER_CHUNK
    mask = np.zeros(num_chunks, dtype=bool)
    for first, last in bar_ranges:
        if not 1 <= first <= last <= total_bars:
            raise ValueError(f"Bars {first}-{last} cannot be regenerated: the melody has bars 1 to {total_bars}, so "
                             f"give FIRST-LAST with 1 <= FIRST <= LAST <= {total_bars}, e.g. 1-{min(4, total_bars)}.")
        mask[(first - 1) // BARS_PER_CHUNK : (last - 1) // BARS_PER_CHUNK + 1] = True
    if mask.all():
        raise ValueError(f"The bars to regenerate cover the whole {total_bars}-bar melody: nothing known is left "
                         "to infill around; use generate instead, or regenerate fewer bars.")
    return mask


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
            raise ValueError("Bars must look like FIRST-LAST (1-based, inclusive), e.g. 17-48, or several "
                             f"ranges separated by commas, e.g. 5-8, 17-24; got {text!r}.")
        ranges.append((values[0], values[-1]))
    if not ranges:
        raise ValueError("Name the bars to regenerate, e.g. 17-48.")
    return ranges
