"""Regenerate chosen bars of a melody, or continue it past its end.

    python -m core.cli.infill --midi in.mid --bars 17-48 --out b.mid
    python -m core.cli.infill --midi in.mid --extend 16 --out longer.mid
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

from core.cli.common import ProgressBar, add_common_options, write_outputs
from core.music.melody_lines import rank_lines
from core.music.midi_io import MidiInputError, extract_melodies, load_midi_file
from core.pipeline import MelodyPipeline
from core.requests import DEFAULT_SEAM_CANDIDATES, INFILL_METHODS, InfillRequest, continuation, parse_bar_ranges


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.cli.infill",
                                     description="Keep a melody's other bars and let the diffusion model "
                                                 "fill in the chosen ones (rounded outward to 2-bar latents), "
                                                 "or continue the melody by new bars.")
    parser.add_argument("--midi", type=Path, required=True, help="input MIDI file")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--bars", help="1-based inclusive bars to regenerate, e.g. 17-48 or 5-8,17-24")
    what.add_argument("--extend", type=int, metavar="BARS",
                      help="continue the melody by BARS new bars (an even number) after its last 2-bar latent")
    parser.add_argument("--line", type=int, default=1,
                        help="which melody line to use, numbered likeliest tune first (core.music.melody_lines; "
                             "default 1, the likeliest)")
    parser.add_argument("--method", choices=INFILL_METHODS, default="diffusion",
                        help="diffusion, or the paper's baselines: interpolation (slerp) or prior")
    parser.add_argument("--resample", type=int, default=0, help="extra RePaint rounds per step (smoother joins)")
    parser.add_argument("--seam-candidates", type=int, default=DEFAULT_SEAM_CANDIDATES,
                        help=f"infillings drawn per seed, the best-joined kept (default {DEFAULT_SEAM_CANDIDATES}; "
                             "1: the seed's own draw)")
    add_common_options(parser)
    args = parser.parse_args(argv)
    try:
        melodies = rank_lines(extract_melodies(load_midi_file(args.midi)))
        if not melodies:
            raise ValueError(f"{args.midi} has no melody: no pitched notes in MIDI 21..108")
        if not 1 <= args.line <= len(melodies):
            raise ValueError(f"--line must lie in 1..{len(melodies)} for this file, got {args.line}")
        pipeline = MelodyPipeline(args.model_dir)
        melody = melodies[args.line - 1].melody
        options = dict(seeds=(args.seed,), method=args.method, sampler=args.sampler, steps=args.steps,
                       resample=args.resample, seam_candidates=args.seam_candidates,
                       style=args.style or pipeline.default_style(), guidance=args.guidance,
                       phrasing=args.phrasing, tempo_bpm=args.tempo, program=args.program, dynamics=args.dynamics)
        if args.extend is not None:
            request = continuation(melody, args.extend, **options)
        else:
            request = InfillRequest.of(melody=melody, bars_to_regenerate=tuple(parse_bar_ranges(args.bars)), **options)
        started = time.perf_counter()
        result = pipeline.infill(request, ProgressBar("continuing" if args.extend else "infilling"))[0]
    except (FileNotFoundError, MidiInputError, ValueError) as error:
        parser.error(str(error))
    write_outputs(result, args, time.perf_counter() - started, infilled=True)


if __name__ == "__main__":
    main()
