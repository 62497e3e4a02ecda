"""Pieces shared by the generate and infill command lines: options, progress, outputs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from core.audio import AUDIO_WRITERS, render_midi, write_audio
from core.bundle import DEFAULT_MODEL_DIR
from core.diffusion.samplers import SAMPLER_NAMES
from core.music.constants import DEFAULT_PROGRAM, DEFAULT_TEMPO_BPM
from core.music.midi_io import pretty_midi_to_bytes
from core.music.notation import abc_text, chunk_bars, musicxml_text
from core.nets.transformer import ANY_STYLE
from core.pipeline import MelodyResult
from core.progress import SamplerProgress
from core.requests import DEFAULT_GUIDANCE, DEFAULT_STYLE


def audio_path(text: str) -> Path:
    """An argparse type: a path whose suffix names an audio format `write_audio` writes."""
    path = Path(text)
    if path.suffix.lower() not in AUDIO_WRITERS:
        raise argparse.ArgumentTypeError(f"audio files must end in {' or '.join(AUDIO_WRITERS)}, got {text!r}")
    return path


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same melody)")
    parser.add_argument("--out", type=Path, required=True, help="output .mid file")
    parser.add_argument("--wav", type=audio_path, help="also render the melody to this .wav (or .ogg) file")
    parser.add_argument("--abc", type=Path, help="also write the melody as ABC notation to this file")
    parser.add_argument("--musicxml", type=Path, help="also write the melody as a MusicXML score to this file")
    parser.add_argument("--sampler", choices=SAMPLER_NAMES, default="fast",
                        help="ddpm: the paper's 1000-step ancestral sampler; ddim: deterministic DDIM; dpmpp_2m: "
                             "DPM-Solver++(2M); fast (default): the fast sampler the benchmark chose")
    parser.add_argument("--steps", type=int, help="sampler steps (default: the sampler's own)")
    parser.add_argument("--style",
                        help=f"style label the models were trained with (folk, renaissance, chorale, classical, "
                             f"other for the demo models) or {ANY_STYLE} (default {DEFAULT_STYLE}, or {ANY_STYLE} "
                             "for models trained without labels)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                        help="how strongly the style steers: 0 = unconditional (the paper's setting), 1 = the "
                             f"conditional model, above 1 = classifier-free guidance (default {DEFAULT_GUIDANCE:g})")
    parser.add_argument("--no-phrasing", dest="phrasing", action="store_false",
                        help="leave the sampled phrases as drawn instead of shaping them as real tunes of the style "
                             "do (core.shaping: infilled folk bars restated)")
    parser.add_argument("--program", type=int, default=DEFAULT_PROGRAM, help="General MIDI program 0..127")
    parser.add_argument("--tempo", type=float, default=DEFAULT_TEMPO_BPM, help="beats per minute")
    parser.add_argument("--no-dynamics", dest="dynamics", action="store_false",
                        help="every note at one velocity, instead of accents on the beat and swells over each phrase")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="model directory")


class ProgressBar:
    """A sampler callback that drives a tqdm bar on stderr."""

    def __init__(self, description: str):
        self.bar = None
        self.description = description

    def __call__(self, progress: SamplerProgress) -> None:
        if self.bar is None:
            self.bar = tqdm(total=progress.total, desc=self.description, unit="step", file=sys.stderr)
        self.bar.update(progress.done - self.bar.n)
        if progress.done == progress.total:
            self.bar.close()


def write_outputs(result: MelodyResult, args: argparse.Namespace, generation_seconds: float,
                  infilled: bool = False) -> None:
    """Write the MIDI (args.out) and what else `args` asks for (--wav, --abc, --musicxml), and report
    where the time went: generation = sampling + VAE decoding. The notation of an `infilled` result
    labels its regenerated bars "new"."""
    args.out.write_bytes(pretty_midi_to_bytes(result.midi))
    written = [f"{args.out} ({len(result.melody) // 16} bars)"]
    timing = f"generated in {generation_seconds:.2f} s (sampling and VAE decoding)"
    tempo_bpm = float(result.midi.get_tempo_changes()[1][0])
    marked = chunk_bars(result.regenerated) if infilled else frozenset()
    for path, write in ((args.abc, abc_text), (args.musicxml, musicxml_text)):
        if path is not None:
            path.write_text(write(result.melody, args.out.stem, tempo_bpm, marked))
            written.append(str(path))
    if args.wav is not None:
        started = time.perf_counter()
        samples = render_midi(result.midi)
        write_audio(args.wav, samples)
        written.append(f"{args.wav} ({samples.size / 44100:.1f} s)")
        timing += f", audio rendered in {time.perf_counter() - started:.2f} s"
    print(f"wrote {', '.join(written)}", file=sys.stderr)
    print(timing, file=sys.stderr)
