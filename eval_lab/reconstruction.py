"""How well the VAE reconstructs held-out 2-bar chunks through greedy decoding.

    python -m eval_lab.reconstruction --model demo/model --data data/music21.npz

Scores cover non-rest chunks only (rest chunks map to the zero latent and back to silence
by rule, so they are exact): token accuracy over all 32 steps, note precision / recall /
F1 where a note matches when onset step and pitch agree, and the share of exact chunks.
When the model directory has a codec, the same scores are also given for latents passed
through it (kept dims, dropped dims at their means), which is what diffusion works with.
Prints one line per style (`style=<label> chunks=<n> token_accuracy=<x> note_f1=<y>
exact=<z>`, at most `--n` chunks each), then the same for a sample of `--n` chunks of the
whole split in its natural mix (`overall ...`); the last line is `token_accuracy=<value>`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from core.bundle import DEFAULT_MODEL_DIR, check_bundle
from core.latents import LatentCodec
from core.melody_cache import MelodyCache
from core.reconstruction import held_out_chunks, reconstruct, reconstruction_scores
from core.vae import load_vae


def score_line(label: str, scores: dict[str, float]) -> str:
    return (f"{label} chunks={scores['chunks']} token_accuracy={scores['token_accuracy']:.4f} "
            f"note_f1={scores['note_f1']:.4f} exact={scores['exact_chunks']:.4f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.reconstruction", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="model directory with vae.json")
    parser.add_argument("--data", type=Path, default=Path("data/music21.npz"), help="melody cache")
    parser.add_argument("--split", choices=("train", "eval"), default="eval")
    parser.add_argument("--n", type=int, default=1500, help="non-rest chunks to score per style (default 1500)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    try:
        check_bundle(args.model, required=("vae",))
        cache = MelodyCache.load(args.data)
        vae = load_vae(args.model)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    codec = LatentCodec.load(args.model) if (args.model / "codec.json").is_file() else None
    results: dict[str, dict] = {}
    for style in [*cache.styles(), None]:
        chunks = held_out_chunks(cache, args.split, args.n, style)
        if len(chunks) == 0:
            continue
        scores = reconstruction_scores(chunks, reconstruct(vae, chunks))
        if codec is not None:  # what the sequence models see: kept dims only
            through = reconstruction_scores(chunks, reconstruct(vae, chunks, latent_map=lambda mu: codec.inverse(
                codec.transform(mu))))
            scores.update({f"{key}_through_codec": value for key, value in through.items() if key != "chunks"})
        results[style or "all"] = scores
        if style is not None:
            print(score_line(f"style={style}", scores))
    if "all" not in results:
        parser.error(f"{args.data} has no non-rest {args.split} chunks")
    if codec is not None:
        results["codec_dims"] = codec.data_dims
    print("details=" + json.dumps(results, sort_keys=True))
    print(score_line("overall", results["all"]))
    print(f"token_accuracy={results['all']['token_accuracy']:.4f}")


if __name__ == "__main__":
    main()
