"""How well the VAE reconstructs held-out melodies, decoding the most likely chunk (beam search).

    python -m eval_lab.reconstruction --model demo/model --data data/music21.npz
    python -m eval_lab.reconstruction --model demo/model --midi DIR --out OUTDIR

Chunk scores cover non-rest chunks only (rest chunks map to the zero latent and back to
silence by rule, so they are exact): token accuracy over all 32 steps, note precision /
recall / F1 where a note matches when onset step and pitch agree, and the share of exact
chunks. When the model directory has a codec, the same scores are also given for latents
passed through it (kept dims, dropped dims at their means), which is what diffusion works
with. Prints one line per style (`style=<label> chunks=<n> token_accuracy=<x> note_f1=<y>
exact=<z>`, at most `--n` chunks each), then, for up to `--tunes` whole held-out tracks per
style reconstructed through the VAE and codec, the interval profile (`core.music.musicality`) of
the originals and of their reconstructions and a classifier two-sample test between them
(`eval_lab.c2st`, with its real-vs-real control); then the chunk scores of a sample of `--n`
chunks of the whole split in its natural mix (`overall ...`); the last line is
`token_accuracy=<value>`.

With `--midi DIR --out OUTDIR`, every MIDI file's first melody line is reconstructed
through the VAE and codec instead and written to OUTDIR under the same relative name, so
that outside tools can judge the reconstructions; the interval profiles of the originals
and reconstructions, and the C2ST between them, are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from core.bundle import DEFAULT_MODEL_DIR, check_bundle
from core.data.melody_cache import MelodyCache
from core.music.midi_io import melody_to_pretty_midi
from core.music.musicality import INTERVAL_PROFILE_NAMES, average_interval_profile
from core.nets.codec import LatentCodec
from core.nets.roundtrip import held_out_chunks, reconstruct, reconstruct_melodies, reconstruction_scores
from core.nets.vae import MusicVAE, load_vae
from eval_lab.c2st import c2st
from eval_lab.folder_musicality import midi_files, read_midi_melodies

LatentMap = Callable[[torch.Tensor], torch.Tensor] | None


def score_line(label: str, scores: dict[str, float]) -> str:
    return (f"{label} chunks={scores['chunks']} token_accuracy={scores['token_accuracy']:.4f} "
            f"note_f1={scores['note_f1']:.4f} exact={scores['exact_chunks']:.4f}")


def profile_line(label: str, profile: dict[str, float]) -> str:
    shares = " ".join(f"{name.removesuffix('_share')}={profile[name]:.3f}" for name in INTERVAL_PROFILE_NAMES)
    return f"{label} {shares}"


def held_out_tunes(cache: MelodyCache, style: str, count: int, seed: int = 0) -> list[np.ndarray]:
    """Up to `count` whole tracks of the eval split of `style`, a fixed random sample (cache order)."""
    tracks = cache.track_indices("eval", style)
    chosen = np.sort(np.random.default_rng(seed).permutation(tracks)[:count])
    return [cache.track_melody(int(track)) for track in chosen]


def compare(label: str, originals: list[np.ndarray], rebuilt: list[np.ndarray]) -> dict[str, object]:
    """Print the interval profiles of `originals` and of their reconstructions and the paired C2ST
    between them (with its control), each line starting with `label`; return the figures."""
    original, through = average_interval_profile(originals), average_interval_profile(rebuilt)
    print(profile_line(f"{label}intervals original", original))
    print(profile_line(f"{label}intervals reconstructed", through))
    figures: dict[str, object] = {"intervals_original": original, "intervals_reconstructed": through}
    try:
        result, control = c2st(originals, rebuilt, paired=True)
    except ValueError as error:  # too few melodies for the folds
        print(f"{label}c2st skipped: {error}")
        return figures
    print(result.line(f"{label}c2st originals vs reconstructions"))
    print(control.line(f"{label}c2st originals vs originals (control)"))
    return {**figures, "c2st_accuracy": result.accuracy, "c2st_spread": result.spread,
            "c2st_control_accuracy": control.accuracy}


def tune_report(vae: MusicVAE, latent_map: LatentMap, style: str, tunes: list[np.ndarray]) -> dict[str, object]:
    """`compare` of `tunes` and their reconstructions, the lines labelled with the style."""
    rebuilt = reconstruct_melodies(vae, tunes, latent_map)
    return {"tunes": len(tunes), **compare(f"style={style} tunes={len(tunes)} ", tunes, rebuilt)}


def reconstruct_folder(vae: MusicVAE, latent_map: LatentMap, source: Path, out: Path) -> None:
    """Write the reconstruction of every MIDI file's first melody line under `source` to `out`."""
    read, skipped = read_midi_melodies(midi_files(source))
    paths = [path for path, lines in read.items() if lines]
    skipped.update({path: "no melody line" for path, lines in read.items() if not lines})
    originals = [read[path][0] for path in paths]
    rebuilt = reconstruct_melodies(vae, originals, latent_map)
    for path, melody in tqdm(zip(paths, rebuilt), total=len(paths), desc="writing", unit="file"):
        target = out / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        melody_to_pretty_midi(melody).write(str(target))
    for path, reason in skipped.items():
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not originals:
        raise ValueError(f"no MIDI file under {source} has a melody line")
    print(f"wrote {len(rebuilt)} reconstructions to {out}")
    compare("", originals, rebuilt)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.reconstruction", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="model directory with vae.json")
    parser.add_argument("--data", type=Path, default=Path("data/music21.npz"), help="melody cache")
    parser.add_argument("--split", choices=("train", "eval"), default="eval")
    parser.add_argument("--n", type=int, default=1500, help="non-rest chunks to score per style (default 1500)")
    parser.add_argument("--tunes", type=int, default=200,
                        help="whole held-out tracks per style for the interval profile and the C2ST (default 200; 0 = "
                             "none)")
    parser.add_argument("--midi", type=Path, help="reconstruct the MIDI files of this folder instead of the cache")
    parser.add_argument("--out", type=Path, help="with --midi: folder for the reconstructed MIDI files")
    args = parser.parse_args(argv)
    if args.n < 1 or args.tunes < 0:
        parser.error(f"--n must be >= 1 and --tunes >= 0, got {args.n} and {args.tunes}")
    if (args.midi is None) != (args.out is None):
        parser.error("--midi and --out go together: --midi DIR --out OUTDIR")
    try:
        check_bundle(args.model, required=("vae",))
        vae = load_vae(args.model)
        cache = None if args.midi else MelodyCache.load(args.data)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    codec = LatentCodec.load(args.model) if (args.model / "codec.json").is_file() else None
    through_codec = (lambda mu: codec.inverse(codec.transform(mu))) if codec is not None else None
    if args.midi is not None:
        if not args.midi.is_dir():
            parser.error(f"--midi {args.midi} is not a folder")
        try:
            reconstruct_folder(vae, through_codec, args.midi, args.out)
        except ValueError as error:
            parser.error(str(error))
        return
    in_c = vae.config.key_normalized
    results: dict[str, dict] = {}
    for style in [*cache.styles(), None]:
        chunks = held_out_chunks(cache, args.split, args.n, style, key_normalized=in_c)
        if len(chunks) == 0:
            continue
        scores = reconstruction_scores(chunks, reconstruct(vae, chunks))
        if codec is not None:  # what the sequence models see: kept dims only
            through = reconstruction_scores(chunks, reconstruct(vae, chunks, latent_map=through_codec))
            scores.update({f"{key}_through_codec": value for key, value in through.items() if key != "chunks"})
        results[style or "all"] = scores
        if style is not None:
            print(score_line(f"style={style}", scores))
            if args.tunes and args.split == "eval":
                tunes = held_out_tunes(cache, style, args.tunes)
                scores.update(tune_report(vae, through_codec, style, tunes))
    if "all" not in results:
        parser.error(f"{args.data} has no non-rest {args.split} chunks")
    if codec is not None:
        results["codec_dims"] = codec.data_dims
    print("details=" + json.dumps(results, sort_keys=True))
    print(score_line("overall", results["all"]))
    print(f"token_accuracy={results['all']['token_accuracy']:.4f}")


if __name__ == "__main__":
    main()
