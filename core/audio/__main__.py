"""Render a MIDI file to audio: python -m core.audio IN.mid OUT.wav|OUT.ogg|OUT.mp3 [--program N] [--tempo BPM]."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from core.audio import DEFAULT_SAMPLE_RATE, SOUNDFONT_ENV, render_midi, retime_to_tempo, write_audio
from core.music.midi_io import MidiInputError, load_midi_file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.audio",
        description="Render a MIDI file to mono audio with FluidSynth: 16-bit WAV or Ogg Vorbis.",
    )
    parser.add_argument("midi", type=Path, help="input .mid file")
    parser.add_argument("wav", type=Path, help="output .wav, .ogg or .mp3 file")
    parser.add_argument("--program", type=int, default=None,
                        help="General MIDI program 0..127 for every non-drum instrument "
                             "(default: each instrument's own)")
    parser.add_argument("--tempo", type=float, default=None,
                        help="re-time the file so that it plays at this many beats per minute")
    parser.add_argument("--soundfont", type=Path, default=None,
                        help=f".sf2 soundfont (default: ${SOUNDFONT_ENV}, else the GM font "
                             "bundled with pretty_midi)")
    parser.add_argument("--sample-rate", type=int, default=DEFAULT_SAMPLE_RATE,
                        help=f"samples per second (default {DEFAULT_SAMPLE_RATE})")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        midi = load_midi_file(args.midi)
        if args.tempo is not None:
            retime_to_tempo(midi, args.tempo)
        samples = render_midi(midi, args.program, args.soundfont, args.sample_rate)
    except FileNotFoundError:
        parser.error(f"no such MIDI file: {args.midi}")
    except (MidiInputError, ValueError) as error:
        parser.error(str(error))
    try:
        write_audio(args.wav, samples, args.sample_rate)
    except ValueError as error:
        parser.error(str(error))
    peak = float(abs(samples).max()) if samples.size else 0.0
    print(f"wrote {args.wav}: {samples.size / args.sample_rate:.2f} s, peak {peak:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
