"""The user-facing pipeline: one model bundle in, melodies (events, MIDI, latents) out.

A model bundle (`core.bundle`) holds `vae`, `codec`, `schedule` and, once trained,
`diffusion` and `mdn`; loading checks that they belong together. Data flows one way:
sampler -> normalized latents -> codec inverse -> VAE decode -> 2-bar chunks -> melody ->
MIDI. Requests (`core.requests`) arrive checked; each call makes one melody per seed in one
batched sampler call, and every seed's melody is the same whatever other seeds share its batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pretty_midi
import torch

from core.bundle import REBUILD_HINTS, bundle_fingerprint, check_bundle
from core.diffusion.baselines import interpolate_gaps, prior_latents
from core.diffusion.samplers import get_sampler, infill, initial_noise, sample_tied, sample_windowed
from core.diffusion.schedule import NoiseSchedule
from core.limits import MAX_SEED, MAX_SEEDS_PER_REQUEST
from core.music.constants import CHUNKS_PER_WINDOW, FIRST_NOTE_TOKEN, NO_EVENT, NOTE_OFF
from core.music.forms import Form, draw_form, noise_sources, read_forms, representatives
from core.music.keys import normalizing_shift, parse_key, style_key, transpose_melody, transpose_to_key
from core.music.melody import split_into_chunks
from core.music.midi_io import melody_to_pretty_midi
from core.music.musicality import seam_profile
from core.music.outlines import FIRST, LAST, OUTLINE_SILENT, OUTLINE_SLOTS, OUTLINE_UNKNOWN, chunk_outlines
from core.nets.codec import LatentCodec
from core.nets.denoiser import GuidedDenoiser, load_denoiser
from core.nets.mdn import load_mdn
from core.nets.outline import draw_outlines, load_outline_model
from core.nets.transformer import ANY_STYLE
from core.nets.vae import load_vae
from core.noise import seeded_generators
from core.progress import ProgressCallback, SamplerProgress
from core.requests import DEFAULT_STYLE, GenerationRequest, InfillRequest, RenderOptions, SamplingOptions, replaced
from core.shaping import shaping_for
from core.shaping.repeats import kept_sources, restate_phrases

DEFAULT_REST_TOLERANCE = 0.05  # RMS distance to the rest point below which a latent is a rest
WINDOW_OVERLAP = 8  # latents each window shares with the previous one in windowed long generation
# the noise level at which a noise-conditioned VAE decoder (`core.nets.vae`) reads sampled latents, in the
# codec's normalized coordinates; higher levels trade leaps for repeated notes: 0.025 keeps leaps clear of the
# target (4.5% against 5.8%; level 0: 5.4%) for one point more repeated notes (docs/data-and-training.md,
# "Decoding sampled latents")
SAMPLED_LATENT_NOISE = 0.025
# outlines are drawn at these temperatures (first pitch, last pitch, onset count), conditional on the style
# (guidance 1) for any guidance above 0: at 1.0 a fifth of the drawn seams leap past a fifth (real folk 5.7%);
# 0.6 brings them near the real share and the tunes' ends onto the tonic, but the counts stay at 1.0, or they
# crowd at the commonest, the busiest (docs/evaluation.md, "Outlines")
OUTLINE_TEMPERATURE = (0.6, 0.6, 1.0)
# what of the drawn outline the sequence models are told: the pitches. Told the drawn onset counts too, which run
# busier than the tunes' (14 onsets a chunk against 12), the melodies take 7.2-7.5 notes a bar against 5.7; left
# to draw their own rhythm, 6.2 (docs/evaluation.md, "Outlines")
TOLD_OUTLINE_SLOTS = (FIRST, LAST)


@dataclass
class MelodyResult:
    seed: int
    melody: np.ndarray  # (T,) int8 tokens, T = bars * 16
    midi: pretty_midi.PrettyMIDI
    latents: torch.Tensor  # (K, D) normalized latents it was decoded from (before the key), K = bars / 2
    regenerated: np.ndarray  # (K,) bool, True for chunks the model produced
    form: Form = ()  # the lags it was sampled with (`core.music.forms`); () for infilled results


@dataclass
class Drawn:
    """Sequences of latents with the outlines they were drawn to follow (None: drawn free, or real ones)."""

    latents: torch.Tensor  # (N, K, D) normalized latents
    outlines: torch.Tensor | None = None  # (N, K, OUTLINE_SLOTS) outline tokens (`core.music.outlines`)

    @staticmethod
    def concatenate(parts: Sequence["Drawn"]) -> "Drawn":
        """The parts' sequences one after the other (outlines only where every part has them)."""
        outlines = [part.outlines for part in parts]
        return Drawn(torch.cat([part.latents for part in parts]),
                     None if any(o is None for o in outlines) else torch.cat(outlines))

    def first(self, count: int) -> "Drawn":
        return Drawn(self.latents[:count], None if self.outlines is None else self.outlines[:count])


def told_outlines(outlines: torch.Tensor) -> torch.Tensor:
    """(..., OUTLINE_SLOTS) outline tokens -> a copy with the slots the sequence models are not told
    (all but TOLD_OUTLINE_SLOTS) unknown."""
    told = outlines.clone()
    told[..., [slot for slot in range(OUTLINE_SLOTS) if slot not in TOLD_OUTLINE_SLOTS]] = OUTLINE_UNKNOWN
    return told


def candidate_seeds(seeds: Sequence[int], draw: int) -> tuple[int, ...]:
    """The seeds of the `draw`-th infilling drawn for each of `seeds` (`MelodyPipeline.infill`): the seeds
    themselves for draw 0, then seeds of their own, the same on every call."""
    if draw == 0:
        return tuple(seeds)
    return tuple(int.from_bytes(hashlib.sha256(f"{seed}-{draw}".encode()).digest()[:8], "big") % (MAX_SEED + 1)
                 for seed in seeds)


def seam_fit(melody: np.ndarray, regenerate: np.ndarray) -> float:
    """How well an infilled (T,) melody's regenerated (K,) chunks join the kept ones: the share of its
    seams within the kept bars' motion (`core.music.musicality.seam_profile`); -1 with no seam to judge."""
    fit = seam_profile(melody, regenerate)["seams_within_kept_motion"]
    return -1.0 if np.isnan(fit) else fit


def progress_part(callback: ProgressCallback | None, part: int, parts: int) -> ProgressCallback | None:
    """`callback` for the `part`-th of `parts` sampler runs of one request: one bar over all of them."""
    if callback is None:
        return None
    return lambda update: callback(SamplerProgress(part * update.total + update.done, parts * update.total, update.x0))


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
        # the coarse line each chunk follows, drawn before the latents of a sequence model that reads it
        # (`core.nets.outline`)
        self.outline_model = load_outline_model(self.model_dir, device) if bundle.has("outline") else None
        self.corpus_forms = read_forms(self.model_dir)  # style -> forms of its training tunes
        # the level sampled latents are decoded at; 0 (a chunk's own latent) for a decoder without levels
        self.sampled_noise_level = SAMPLED_LATENT_NOISE if self.vae.config.noise_conditioned else 0.0
        if self.codec.z_size != self.vae.config.z_size:
            raise ValueError(f"the codec in {self.model_dir} maps {self.codec.z_size}-dim latents but the VAE's "
                             f"z has {self.vae.config.z_size} dims; {self._hint('codec')}")
        for name, model in (("diffusion", self.denoiser), ("mdn", self.mdn)):
            if model is not None and model.config.data_dims != self.codec.data_dims:
                raise ValueError(f"the {name} model in {self.model_dir} takes {model.config.data_dims}-dim latents "
                                 f"but the codec gives {self.codec.data_dims}; {self._hint(name)}")

    # -- latents <-> chunks ---------------------------------------------------------------

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, rest_tolerance: float = DEFAULT_REST_TOLERANCE,
               noise_level: torch.Tensor | float = 0.0,
               outlines: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(K, D) normalized latents -> ((K, 32) chunks, (K,) rest flags: within `rest_tolerance` RMS
        of the rest point, or silent by their outline). noise_level: (K,) or one for all; 0 for chunks'
        own latents (encoded), `sampled_noise_level` for latents a sequence model drew (`core.nets.vae`).
        outlines: (K, OUTLINE_SLOTS) the outlines the latents were drawn to follow, which the decoding
        holds them to (`MusicVAE.decode`); None: decoded free."""
        rests = self.rest_flags(latents, rest_tolerance).numpy()
        if outlines is not None:
            rests |= (outlines[:, FIRST] == OUTLINE_SILENT).cpu().numpy()
        z = self.codec.inverse(latents.to(self.device))
        z[torch.from_numpy(rests).to(self.device)] = 0.0  # the zero latent decodes to silence
        levels = torch.as_tensor(noise_level, dtype=z.dtype).to(self.device)
        return self.vae.decode(z, noise_level=levels, outlines=outlines).cpu().numpy().astype(np.int8), rests

    def rest_flags(self, latents: torch.Tensor, rest_tolerance: float = DEFAULT_REST_TOLERANCE) -> torch.Tensor:
        """(..., D) normalized latents -> (...) bool on the CPU: within `rest_tolerance` RMS of the rest point."""
        return (latents.cpu() - self.codec.rest_point).square().mean(-1).sqrt() < rest_tolerance

    def decode_melodies(self, latents: torch.Tensor, noise_level: torch.Tensor | float = 0.0,
                        outlines: torch.Tensor | None = None) -> list[np.ndarray]:
        """(N, K, D) normalized latents -> N melodies, each (K * 32,) tokens, in one VAE call (at
        `noise_level`, one for all or (K,) per place in the sequences, held to (N, K, OUTLINE_SLOTS)
        `outlines` where given: `decode`)."""
        n, k, d = latents.shape
        levels = torch.as_tensor(noise_level, dtype=torch.float32)
        levels = levels.repeat(n) if levels.ndim else levels  # (N * K,) or one for all
        held = None if outlines is None else outlines.reshape(n * k, -1)
        chunks, rests = self.decode(latents.reshape(n * k, d), noise_level=levels, outlines=held)  # (N * K, 32) ...
        return [join_chunks(chunks[i * k : (i + 1) * k], rests[i * k : (i + 1) * k]) for i in range(n)]

    def decode_sequences(self, latents: torch.Tensor, style: str, guidance: float, phrasing: bool,
                         known_chunks: np.ndarray | None = None, regenerate: np.ndarray | None = None,
                         restate: bool = True, outlines: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, list[tuple[np.ndarray, np.ndarray]]]:
        """(S, K, D) sequences sampled for `style` at `guidance` -> (the (S, K, D) latents the melodies
        come from; per sequence, its (K, 32) chunks and (K,) rest flags). Infilling passes the
        melody's (K, 32) `known_chunks` (or (S, K, 32), one melody per sequence) and (K,) `regenerate`:
        kept chunks are its own notes. With
        `phrasing`, the style's shaping steps (`core.shaping`) change the regenerated chunks only;
        `restate` (infilling: new melodies get their repeats from their form) may make a latent a
        copy of a kept one, which then plays that chunk's own notes. Regenerated latents are decoded at
        `sampled_noise_level`, kept ones at 0, each held to its outline where (S, K, OUTLINE_SLOTS)
        `outlines` are given."""
        regenerate = np.ones(latents.shape[1], dtype=bool) if regenerate is None else regenerate
        shaping = shaping_for(style, guidance)
        if phrasing and restate:
            latents = restate_phrases(latents, shaping.restate_share, movable=torch.from_numpy(regenerate))
        levels = torch.from_numpy(np.where(regenerate, self.sampled_noise_level, 0.0))  # (K,)
        decoded = []
        for index, sequence in enumerate(latents):
            chunks, rests = self.decode(sequence, noise_level=levels,
                                        outlines=None if outlines is None else outlines[index])
            if known_chunks is not None:
                own = known_chunks if known_chunks.ndim == 2 else known_chunks[index]  # (K, 32)
                source = kept_sources(sequence, torch.from_numpy(~regenerate)).numpy()  # (K,)
                chunks[source >= 0] = own[source[source >= 0]]
                rests &= source < 0
            decoded.append((chunks, rests))
        return latents, decoded

    @torch.no_grad()
    def encode(self, chunks: np.ndarray) -> torch.Tensor:
        """(K, 32) chunks -> (K, D) normalized latents (posterior means)."""
        mu, _ = self.vae.encode(torch.as_tensor(chunks, dtype=torch.long, device=self.device))
        return self.codec.transform(mu).cpu()

    # -- latents --------------------------------------------------------------------------

    def sample_latents(self, options: SamplingOptions, num_chunks: int, windowed: bool = False, keep_every: int = 0,
                       callback: ProgressCallback | None = None
                       ) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]], list[Form], torch.Tensor | None]:
        """New normalized latents, one sequence per seed, drawn with their forms (tied restatements,
        echoes drawn from their sources' noise; the windowed sampler and the prior draw every melody
        free) after their outlines where the model reads them (`draw_outlines`): ((S, K, D),
        [(t, (S, K, D) x0), ...], the S forms, the (S, K, OUTLINE_SLOTS) outlines or None)."""
        generators = seeded_generators(options.seeds)
        free = [(0,) * num_chunks] * len(generators)
        if options.model == "prior":
            shape = (num_chunks, self.codec.data_dims)
            return torch.stack([prior_latents(self.codec, shape, g) for g in generators]), [], free, None
        style = options.style if options.guidance > 0 and options.style != ANY_STYLE else None  # 0: no style
        forms = [draw_form(options.form, num_chunks, style, self.corpus_forms, seed) for seed in options.seeds]
        firsts = torch.tensor([representatives(form) for form in forms])  # (S, K)
        sources = torch.tensor([noise_sources(form) for form in forms])  # (S, K)
        unknown = torch.full((len(generators), num_chunks, OUTLINE_SLOTS), OUTLINE_UNKNOWN, dtype=torch.long)
        if options.model == "mdn":
            mdn = self._require(self.mdn, "mdn")
            outlines = self.draw_outlines(mdn, options, unknown, generators, firsts)
            style = self._style_indices(mdn, options, len(generators)) if options.guidance > 0 else None
            latents = mdn.sample(len(generators), num_chunks, generators, options.temperature, CHUNKS_PER_WINDOW,
                                 callback, style, firsts, sources, outlines)
            return latents.cpu(), [], forms, outlines
        if windowed and num_chunks > CHUNKS_PER_WINDOW:  # every melody free: no form, the whole outline at once
            outlines = self.draw_outlines(self._require(self.denoiser, "diffusion"), options, unknown, generators)
            denoiser = self._guided_denoiser(options, len(generators), outlines)
            latents = sample_windowed(get_sampler(options.sampler), denoiser, self.schedule, num_chunks,
                                      CHUNKS_PER_WINDOW, WINDOW_OVERLAP, len(generators), denoiser.config.data_dims,
                                      generators, steps=options.steps, callback=callback)
            return latents.cpu(), [], free, outlines
        outlines = self.draw_outlines(self._require(self.denoiser, "diffusion"), options, unknown, generators, firsts)
        denoiser = self._guided_denoiser(options, len(generators), outlines)
        sampler = get_sampler(options.sampler)
        dims = denoiser.config.data_dims
        noise = initial_noise((len(generators), num_chunks, dims), generators, self.device)
        sampled = sample_tied(sampler, denoiser, self.schedule, noise, firsts, generators, steps=options.steps,
                              callback=callback, keep_every=keep_every, sources=sources)
        return sampled.latents.cpu(), [(t, x0.cpu()) for t, x0 in sampled.intermediates], forms, outlines

    def best_joined_latents(self, options: SamplingOptions, known_chunks: np.ndarray, regenerate: np.ndarray,
                            draws: int, method: str = "diffusion", resample: int = 0, phrasing: bool = False,
                            callback: ProgressCallback | None = None
                            ) -> tuple[torch.Tensor, list[tuple[np.ndarray, np.ndarray]]]:
        """`infill_latents` drawn `draws` times per seed (the first with the seed itself, `candidate_seeds`),
        keeping for each seed the draw whose seams fit the kept bars' motion best (`seam_fit`; the
        earliest of equals), judged on the melody the user gets: decoded with `phrasing` or not
        (`decode_sequences`). known_chunks: (K, 32) chunks in the model's key (or (S, K, 32), one
        melody per seed); regenerate: (K,) bool. Returns what `decode_sequences` returns for the
        chosen draws: their (S, K, D) latents and, per seed, its (K, 32) chunks and (K,) rest flags."""
        known = self.encode(known_chunks.reshape(-1, known_chunks.shape[-1])).reshape(*known_chunks.shape[:-1], -1)
        known_outlines = torch.from_numpy(chunk_outlines(known_chunks.reshape(-1, known_chunks.shape[-1]))
                                          ).reshape(*known_chunks.shape[:-1], OUTLINE_SLOTS)
        best_fits = np.full(len(options.seeds), -np.inf)
        best_latents: list[torch.Tensor] = [None] * len(options.seeds)  # (K, D) each
        best_decoded: list[tuple[np.ndarray, np.ndarray]] = [None] * len(options.seeds)
        for draw in range(draws):
            drawn = dataclasses.replace(options, seeds=candidate_seeds(options.seeds, draw))
            latents, outlines = self.infill_latents(drawn, known, regenerate, method, resample,
                                                    progress_part(callback, draw, draws), known_outlines)
            latents, decoded = self.decode_sequences(latents, options.style, options.guidance, phrasing, known_chunks,
                                                     regenerate, outlines=outlines)
            for index, (sequence, (chunks, rests)) in enumerate(zip(latents, decoded)):
                fit = seam_fit(join_chunks(chunks, rests), regenerate) if draws > 1 else 0.0
                if fit > best_fits[index]:
                    best_fits[index], best_latents[index], best_decoded[index] = fit, sequence, (chunks, rests)
        return torch.stack(best_latents), best_decoded

    def infill_latents(self, options: SamplingOptions, known: torch.Tensor, regenerate: np.ndarray,
                       method: str = "diffusion", resample: int = 0,
                       callback: ProgressCallback | None = None,
                       known_outlines: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Replace the latents where `regenerate` (K,) is True, one result per seed.

        known: (K, D) or (S, K, D) normalized latents (one sequence for all seeds, or one per seed).
        known_outlines: (K, OUTLINE_SLOTS) or (S, K, OUTLINE_SLOTS) outline tokens of the known chunks
        (`core.music.outlines`), around which the outline model draws the new chunks' outlines for a
        diffusion model that reads them. Returns the (S, K, D) latents, the kept ones exactly `known`,
        and the (S, K, OUTLINE_SLOTS) outlines they follow (None where none were drawn).
        """
        generators = seeded_generators(options.seeds)
        known = known.expand(len(generators), *known.shape[-2:]) if known.ndim == 2 else known
        if known.shape[0] != len(generators):
            raise ValueError(f"known holds {known.shape[0]} sequences for {len(generators)} seeds")
        keep = torch.from_numpy(~regenerate)
        if method == "interpolation":
            filled = torch.stack([interpolate_gaps(z, ~regenerate) for z in self.codec.inverse(known)])
            return torch.where(keep[None, :, None], known, self.codec.transform(filled)), None
        if method == "prior":
            prior = torch.stack([prior_latents(self.codec, tuple(known.shape[1:]), g) for g in generators])
            return torch.where(keep[None, :, None], known, prior), None
        outlines = None
        if known_outlines is not None:
            if known_outlines.ndim == 2:
                known_outlines = known_outlines.expand(len(generators), -1, -1)
            unknown = known_outlines.masked_fill(torch.from_numpy(regenerate)[None, :, None], OUTLINE_UNKNOWN)
            outlines = self.draw_outlines(self._require(self.denoiser, "diffusion"), options, unknown, generators)
        denoiser = self._guided_denoiser(options, len(generators), outlines)
        noise = initial_noise(tuple(known.shape), generators, self.device)
        latents = infill(get_sampler(options.sampler), denoiser, self.schedule, noise, known.to(self.device), keep,
                         generators, steps=options.steps, resample=resample, callback=callback).latents.cpu()
        return latents, outlines

    # -- melodies -------------------------------------------------------------------------

    def generate(self, request: GenerationRequest, callback: ProgressCallback | None = None) -> list[MelodyResult]:
        """One new melody per seed of the request."""
        return self._generate(request, [request.render] * len(request.sampling.seeds), callback)

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[list[MelodyResult]]:
        """`generate` for several requests at once: one result list per request, in order.

        Requests that differ only in their seeds and rendering (tempo, program) are sampled
        together, up to MAX_SEEDS_PER_REQUEST seeds per sampler call; every melody is the one
        its request alone would give (see `generate`), rendered with its own request's tempo
        and program."""
        groups: dict[GenerationRequest, list[int]] = {}
        for index, request in enumerate(requests):
            sampling = dataclasses.replace(replaced(request, seeds=(0,)), render=RenderOptions())
            groups.setdefault(sampling, []).append(index)
        answers: list[list[MelodyResult]] = [[] for _ in requests]
        for sampling, members in groups.items():
            owners = [index for index in members for _ in requests[index].sampling.seeds]  # (S,) request of each seed
            seeds = [seed for index in members for seed in requests[index].sampling.seeds]
            for start in range(0, len(seeds), MAX_SEEDS_PER_REQUEST):
                part = slice(start, start + MAX_SEEDS_PER_REQUEST)
                batch = replaced(sampling, seeds=tuple(seeds[part]))
                results = self._generate(batch, [requests[owner].render for owner in owners[part]])
                for owner, result in zip(owners[part], results):
                    answers[owner].append(result)
        return answers

    def _generate(self, request: GenerationRequest, renders: Sequence[RenderOptions],
                  callback: ProgressCallback | None = None) -> list[MelodyResult]:
        """One new melody per seed of `request`, the i-th made into MIDI with renders[i]'s tempo and program."""
        sampling = request.sampling
        latents, _, forms, outlines = self.sample_latents(sampling, request.num_chunks, request.windowed,
                                                          callback=callback)
        latents, decoded = self.decode_sequences(latents, sampling.style, sampling.guidance,
                                                 request.shaping.phrasing, restate=False, outlines=outlines)
        regenerated = np.ones(request.num_chunks, dtype=bool)
        tonic = self.output_tonic(request)
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
        sampling = request.sampling
        return parse_key(style_key(sampling.style if sampling.guidance > 0 else ANY_STYLE))

    def infill(self, request: InfillRequest, callback: ProgressCallback | None = None) -> list[MelodyResult]:
        """The request's melody with the chosen bars regenerated, one result per seed. The diffusion
        model draws `request.draws` infillings per seed and keeps the one that joins the kept
        bars best as the user gets it, shaped or not (`best_joined_latents`)."""
        chunks, regenerate, sampling = request.chunks, request.regenerate, request.sampling  # (K, 32), (K,)
        padded = chunks.reshape(-1)
        shift = normalizing_shift(padded) if self.vae.config.key_normalized else 0  # into the model's key ...
        in_model_key = split_into_chunks(transpose_melody(padded, shift))  # (K, 32)
        latents, decoded = self.best_joined_latents(sampling, in_model_key, regenerate, request.draws,
                                                    request.method, request.resample, request.shaping.phrasing,
                                                    callback)
        results = []
        for seed, sequence, (out_chunks, rests) in zip(sampling.seeds, latents, decoded):
            out_chunks = transpose_melody(out_chunks.reshape(-1), -shift).reshape(out_chunks.shape)  # ... and back
            out_chunks[~regenerate] = chunks[~regenerate]  # kept bars note for note
            results.append(self._result(seed, out_chunks, rests, sequence, regenerate, request.render))
        return results

    def _result(self, seed: int, chunks: np.ndarray, rests: np.ndarray, latents: torch.Tensor,
                regenerated: np.ndarray, render: RenderOptions, form: Form = ()) -> MelodyResult:
        melody = join_chunks(chunks, rests)
        midi = melody_to_pretty_midi(melody, render.tempo_bpm, render.program, render.dynamics)
        return MelodyResult(seed, melody, midi, latents, regenerated, form)

    def check_style(self, style: str) -> str:
        """`style` if the diffusion model knows it (or it is "any"), else the ValueError listing the
        styles that sampling would raise (`TrunkConfig.style_index`)."""
        self._require(self.denoiser, "diffusion").config.style_index(style)
        return style

    def styles(self) -> tuple[str, ...]:
        """The style labels the diffusion model knows (empty for a model trained without labels)."""
        return self._require(self.denoiser, "diffusion").config.style_labels

    def default_style(self) -> str:
        """DEFAULT_STYLE where the models know it, else "any" (say, a bundle trained like the paper)."""
        return DEFAULT_STYLE if DEFAULT_STYLE in self.styles() else ANY_STYLE

    def _style_indices(self, model, options: SamplingOptions, count: int) -> torch.Tensor:
        """(count,) the model's index of options.style; ValueError naming the known styles otherwise."""
        return torch.full((count,), model.config.style_index(options.style), dtype=torch.long, device=self.device)

    def _guided_denoiser(self, options: SamplingOptions, count: int,
                         outlines: torch.Tensor | None = None) -> GuidedDenoiser:
        denoiser = self._require(self.denoiser, "diffusion")
        return GuidedDenoiser(denoiser, self._style_indices(denoiser, options, count), options.guidance,
                              outlines=None if outlines is None else outlines.to(self.device))

    def draw_outlines(self, model: torch.nn.Module, options: SamplingOptions, known: torch.Tensor,
                      generators: list[torch.Generator], sources: torch.Tensor | None = None) -> torch.Tensor | None:
        """The unknown tokens of `known` (S, K, OUTLINE_SLOTS) outlines drawn by the bundle's outline model for the
        sequence `model` to follow, one row per generator (sources: (S, K) a form's ties, `draw_outlines`),
        the slots it is not told (TOLD_OUTLINE_SLOTS) made unknown again; None where the model does not
        read outlines or the bundle has no outline model."""
        if self.outline_model is None or not model.config.outline_conditioned:
            return None
        style = self._style_indices(self.outline_model, options, len(generators))
        guidance = min(options.guidance, 1.0)  # the style's own outlines; above 1 they close too alike
        return told_outlines(draw_outlines(self.outline_model, known, style, generators, guidance, sources,
                                           temperature=OUTLINE_TEMPERATURE).cpu())

    def _hint(self, component: str) -> str:
        return REBUILD_HINTS[component].replace("DIR", str(self.model_dir))

    def _require(self, model, name: str):
        if model is None:
            raise ValueError(f"the bundle {self.model_dir} has no {name} model; {self._hint(name)}")
        return model

