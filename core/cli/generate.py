"""Generate a melody: python -m core.cli.generate --bars 32 --style folk --seed 0 --out a.mid [--wav a.wav]."""

from __future__ import annotations

import argparse
import time
from typing import Sequence

from core.cli.common import ProgressBar, add_common_options, write_outputs
from core.music.forms import FORM_CHOICES, STYLE_FORM
from core.music.keys import KEY_NAMES
from core.pipeline import MelodyPipeline
from core.requests import DEFAULT_BARS, GenerationRequest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.cli.generate",
                                     description="Sample a new melody from the latent diffusion model "
                                                 "(or the TransformerMDN baseline).")
    parser.add_argument("--bars", type=int, default=DEFAULT_BARS,
                        help=f"even number of bars (default {DEFAULT_BARS}); may exceed the 64 trained on")
    parser.add_argument("--model", choices=("diffusion", "mdn"), default="diffusion")
    parser.add_argument("--windowed", action="store_true",
                        help="for long pieces: slide overlapping 64-bar windows instead of one long sample")
    parser.add_argument("--temperature", type=float, default=1.0, help="MDN sampling temperature")
    parser.add_argument("--key", help=f"major key of the melody ({', '.join(KEY_NAMES)}; a minor tune takes its "
                                      "relative major, e.g. C for A minor); default: the style's own, e.g. D for folk")
    parser.add_argument("--form", choices=FORM_CHOICES, default=STYLE_FORM, metavar="FORM",
                        help=f"which 8-bar sections return, drawn tied: {', '.join(map(repr, FORM_CHOICES))} "
                             f"(default: the form of one of the style's real tunes, with the phrases that echo "
                             f"an earlier one's shape)")
    add_common_options(parser)
    args = parser.parse_args(argv)
    try:
        pipeline = MelodyPipeline(args.model_dir)
        request = GenerationRequest.of(bars=args.bars, seeds=(args.seed,), model=args.model, sampler=args.sampler,
                                    steps=args.steps, style=args.style or pipeline.default_style(),
                                    guidance=args.guidance, windowed=args.windowed, temperature=args.temperature,
                                    phrasing=args.phrasing, key=args.key, form=args.form, tempo_bpm=args.tempo,
                                    program=args.program, dynamics=args.dynamics)
        started = time.perf_counter()
        result = pipeline.generate(request, ProgressBar("sampling"))[0]
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    write_outputs(result, args, time.perf_counter() - started)


if __name__ == "__main__":
    main()
