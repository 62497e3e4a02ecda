"""Which style, length and guidance sound closest to real melodies: the musicality targets.

    python -m eval_lab.sweep --style folk --bars 16 32 64 --guidance 0 1 2 3 --n 64
    python -m eval_lab.sweep --style folk --bars 32 --guidance 2 --models diffusion mdn --n 200 \
        --forms "like the style's tunes" AABB free

For every (style, bars, guidance, form) it samples N melodies with the fast sampler (and, with
`--models`, the TransformerMDN too) and compares their musicality, form, cadences
(`core.music.musicality`) and a classifier's accuracy telling them apart (`eval_lab.c2st`) with N
real held-out windows of that style and length, read raw from the melody cache (and, for where
tunes end their phrases and close, with the style's whole held-out tunes). A setting
meets a target when:
- in_scale: at least IN_SCALE_TARGET of its notes lie in the best-fitting diatonic scale;
- density: its notes per bar lie within DENSITY_TOLERANCE of the real ones;
- silence: its share of bars without an onset is at most the real share + SILENCE_MARGIN;
- leaps: its share of intervals over a fifth is at most LEAP_FACTOR times the real share;
- repetition: its 2-bar repetition share (transposition allowed) is at least
  REPETITION_FACTOR times the real share.
The app's and the CLI's defaults (`core.pipeline.DEFAULT_STYLE`, `DEFAULT_BARS`,
`DEFAULT_GUIDANCE`) are the setting that meets the most targets.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Sequence

import pandas as pd

from core.data.melody_cache import MelodyCache
from core.music.constants import BARS_PER_CHUNK
from core.music.forms import FORM_CHOICES, STYLE_FORM
from core.music.musicality import average_profiles, average_seam_profile, musicality
from core.pipeline import MelodyPipeline, join_chunks
from core.requests import DEFAULT_SEAM_CANDIDATES
from eval_lab.c2st import told_apart
from eval_lab.run import WHOLE_TUNES, EvalConfig, Evaluator, add_corpus_options, print_table

IN_SCALE_TARGET = 0.95
DENSITY_TOLERANCE = 0.15
SILENCE_MARGIN = 0.05
LEAP_FACTOR = 2.0
REPETITION_FACTOR = 0.5
TARGETS = ("in_scale", "density", "silence", "leaps", "repetition")


def targets_met(generated: dict[str, float], real: dict[str, float]) -> dict[str, bool]:
    """Which of TARGETS the musicality averages `generated` meet against `real` (both from `musicality`)."""
    return {
        "in_scale": generated["in_scale_share"] >= IN_SCALE_TARGET,
        "density": abs(generated["notes_per_bar"] - real["notes_per_bar"]) <= DENSITY_TOLERANCE * real["notes_per_bar"],
        "silence": generated["silent_bar_share"] <= real["silent_bar_share"] + SILENCE_MARGIN,
        "leaps": generated["leap_share"] <= LEAP_FACTOR * real["leap_share"],
        "repetition": generated["transposed_pattern_share"] >= REPETITION_FACTOR * real["transposed_pattern_share"],
    }


def system_name(system: str, shaped: bool) -> str:
    return f"{system} + phrasing" if shaped else system


def sweep(pipeline: MelodyPipeline, latents: Path, cache: MelodyCache, styles: Sequence[str], bars: Sequence[int],
          guidances: Sequence[float], models: Sequence[str], n: int, phrasing: bool = False,
          infill: bool = False, forms: Sequence[str] = (STYLE_FORM,)) -> pd.DataFrame:
    """One row per (style, bars, model, guidance, form) plus two real rows per (style, bars): the
    windows and the whole tunes (`Evaluator.whole_tunes`). Each row has the musicality targets, the
    interval profile, cadences and form (`core.music.musicality.average_profiles`) and the classifier
    two-sample accuracy against the real windows (the windows' row: its control). With `infill`,
    also a row "diffusion infill" per guidance: the real windows with their middle half infilled as
    the app infills (the best-joined of DEFAULT_SEAM_CANDIDATES draws), with how its seams join
    (`core.music.musicality.seam_profile`); with `phrasing`, also a row "SYSTEM + phrasing" of the
    same melodies with their phrases shaped as the app and the CLIs make them by default
    (`MelodyPipeline.decode_sequences`; for infilling, the draws that join best once shaped)."""
    rows = []
    for style, bar_count in itertools.product(styles, bars):
        evaluator = Evaluator(pipeline, latents, cache, EvalConfig(n=n, style=style, length=bar_count // BARS_PER_CHUNK))
        real_melodies = evaluator.raw_melodies(evaluator.held_out_rows)
        real = musicality(real_melodies)
        rows.append({"style": style, "bars": bar_count, "system": "real held-out", "guidance": float("nan"),
                     "form": "", **real, **average_profiles(real_melodies),
                     "c2st_accuracy": told_apart(real_melodies, real_melodies)})
        whole = evaluator.whole_tunes()
        rows.append({"style": style, "bars": bar_count, "system": WHOLE_TUNES, "guidance": float("nan"), "form": "",
                     **musicality(whole), **average_profiles(whole)})
        shapes = (False, True) if phrasing else (False,)
        for model, guidance, form in itertools.product(models, guidances, forms):  # the same seeds for every setting
            drawn = evaluator.sampled(f"sweep {model}", model=model, guidance=guidance, form=form)
            variants = {}
            for shaped in shapes:
                _used, decoded = pipeline.decode_sequences(drawn.latents, style, guidance, shaped, restate=False,
                                                           outlines=drawn.outlines)
                variants[system_name(model, shaped)] = [join_chunks(chunks, rests) for chunks, rests in decoded]
            if infill and model == "diffusion":
                for shaped in shapes:  # the draws chosen for how they join as the user gets them, shaped or not
                    variants[system_name("diffusion infill", shaped)] = evaluator.best_joined(
                        "sweep infill", DEFAULT_SEAM_CANDIDATES, shaped, guidance=guidance)
            for system, melodies in variants.items():
                scores = musicality(melodies)
                if system.startswith("diffusion infill"):
                    scores.update(average_seam_profile(melodies, evaluator.infill_mask()))
                met = targets_met(scores, real)
                rows.append({"style": style, "bars": bar_count, "system": system, "guidance": guidance, "form": form,
                             **scores, **average_profiles(melodies),
                             "c2st_accuracy": told_apart(real_melodies, melodies),
                             **{f"meets_{name}": value for name, value in met.items()},
                             "targets_met": sum(met.values())})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.sweep", description=__doc__.split("\n\n")[0])
    add_corpus_options(parser)
    parser.add_argument("--style", nargs="+", default=["folk"], help="style labels (or any)")
    parser.add_argument("--bars", nargs="+", type=int, default=[16, 32], help="lengths, multiples of 8 bars")
    parser.add_argument("--guidance", nargs="+", type=float, default=[0.0, 1.0, 2.0, 3.0])
    parser.add_argument("--models", nargs="+", choices=("diffusion", "mdn"), default=["diffusion"])
    parser.add_argument("--n", type=int, default=64, help="melodies per setting (default 64)")
    parser.add_argument("--phrasing", action="store_true",
                        help="also score each setting with its phrases shaped as generation does by default "
                             "(MelodyPipeline.decode_sequences)")
    parser.add_argument("--infill", action="store_true",
                        help="also score the real windows with their middle half infilled by the diffusion model")
    parser.add_argument("--forms", nargs="+", choices=FORM_CHOICES, default=[STYLE_FORM], metavar="FORM",
                        help=f"forms to draw with ({', '.join(map(repr, FORM_CHOICES))}; default: the style's tunes')")
    parser.add_argument("--csv", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    try:
        table = sweep(MelodyPipeline(args.model), args.latents, MelodyCache.load(args.data), args.style, args.bars,
                      args.guidance, args.models, args.n, args.phrasing, args.infill, args.forms)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    columns = ["style", "bars", "system", "guidance", "form", "notes_per_bar", "silent_bar_share", "leap_share",
               "in_scale_share", "transposed_pattern_share", "pitch_range", "step_share", "contour_similarity_4",
               "contour_similarity_8", "repeat_lag_8", "repeat_lag_16", "last_note_tonic", "phrase_end_tonic_share",
               "mid_phrase_tonic_share", "c2st_accuracy", "targets_met"]
    print_table(table[columns], 3)
    if args.csv is not None:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
