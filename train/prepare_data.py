"""Build the melody corpus cache from the music21 corpus or a directory tree of MIDI files.

    python -m train.prepare_data --source music21
    python -m train.prepare_data --source midi --input ~/lmd_full --out data/lmd.npz

Parsing runs on all cores with a progress bar. The output file doubles as a cache: a rerun
parses only new or changed items, and an interrupted run resumes from its last checkpoint.
Transposition augmentation happens at training time, not here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from functools import partial
from multiprocessing import Pool
from pathlib import Path
from typing import Callable, Sequence

from tqdm import tqdm

from core.data.melody_cache import ItemRecord, MelodyCache
from core.music.melody import trim_rest_chunks
from train.sources import SkippedItem, Track, list_midi_items, read_midi_item

EXTRACTOR_VERSION = "2"  # bump when extraction changes, to invalidate cached items
CHECKPOINT_SECONDS = 60.0


def _music21_fingerprint(item) -> str:
    import music21

    payload = item.abc_tune if item.abc_tune is not None else f"{os.stat(item.path).st_size}"
    digest = hashlib.sha1(payload.encode("utf-8")).hexdigest()[:16]
    return f"{EXTRACTOR_VERSION}:{music21.__version__}:{digest}"


def _midi_fingerprint(item) -> str:
    stat = os.stat(item.path)
    return f"{EXTRACTOR_VERSION}:{stat.st_size}:{stat.st_mtime_ns}"


def _read_to_record(read: Callable[[object], list[Track]], job: tuple[object, str]) -> ItemRecord:
    """Worker: parse one item; every failure becomes a counted skip, never a crash."""
    item, fingerprint = job
    try:
        tracks = [Track(t.name, trim_rest_chunks(t.melody)) for t in read(item)]
        tracks = [t for t in tracks if t.melody.size]
        if not tracks:
            raise SkippedItem("no notes")
        return ItemRecord(item.key, fingerprint, "", "", [t.name for t in tracks], [t.melody for t in tracks])
    except SkippedItem as skip:
        return ItemRecord(item.key, fingerprint, skip.reason, skip.detail[:300], [], [])
    except Exception as error:  # a reader bug must not stop a 170k-file run
        detail = f"{type(error).__name__}: {error}"[:300]
        return ItemRecord(item.key, fingerprint, "reader error", detail, [], [])


def _source_plan(args: argparse.Namespace) -> tuple[list, Callable, Callable]:
    """The items of the chosen source, with their reader and fingerprint functions."""
    if args.source == "midi":
        if args.input is None:
            raise ValueError("--source midi needs --input DIR, a directory of .mid/.midi files")
        return list_midi_items(args.input), read_midi_item, _midi_fingerprint
    from train import music21_corpus

    return music21_corpus.list_items(), music21_corpus.read_item, _music21_fingerprint


def prepare(args: argparse.Namespace) -> MelodyCache:
    """Parse every item not already cached in `args.out`, save the cache, return it."""
    items, read, fingerprint = _source_plan(args)
    if args.limit is not None:
        items = items[: args.limit]
    previous = {}
    if args.out.is_file() and not args.rebuild:
        cached = MelodyCache.load(args.out)
        if cached.source == args.source:
            previous = cached.records()
    jobs, records = [], {}
    for item in items:
        stamp = fingerprint(item)
        old = previous.get(item.key)
        if old is not None and old.fingerprint == stamp:
            records[item.key] = old
        else:
            jobs.append((item, stamp))
    order = [item.key for item in items]
    print(f"{len(items)} items: {len(records)} cached, {len(jobs)} to parse", file=sys.stderr)

    def snapshot() -> MelodyCache:
        done = [records[key] for key in order if key in records]
        return MelodyCache.from_records(args.source, args.eval_fraction, done)

    last_save = time.monotonic()
    worker = partial(_read_to_record, read)
    with Pool(args.workers) as pool, tqdm(total=len(jobs), desc="parsing", unit="item") as bar:
        for record in pool.imap_unordered(worker, jobs, chunksize=4):
            records[record.key] = record
            bar.update()
            if record.skip_reason:
                bar.set_postfix(skipped=sum(1 for r in records.values() if r.skip_reason), refresh=False)
            if time.monotonic() - last_save > CHECKPOINT_SECONDS:
                snapshot().save(args.out)
                last_save = time.monotonic()
    cache = snapshot()
    cache.save(args.out)
    return cache


def format_summary(cache: MelodyCache, path: Path) -> str:
    s = cache.summary()
    skipped = ", ".join(f"{reason} {count}" for reason, count in s["skipped_by_reason"].items())
    rest_share = s["rest_chunks"] / max(1, s["chunks"])
    return "\n".join(
        [
            f"source: {cache.source}   cache: {path} ({path.stat().st_size / 2**20:.1f} MB)",
            f"files/items read: {s['items_read']}",
            f"skipped: {s['items_skipped']}" + (f" ({skipped})" if skipped else ""),
            f"songs: {s['songs']} (train {s['songs_train']}, eval {s['songs_eval']}), "
            f"melody tracks: {s['tracks']}",
            f"2-bar chunks: {s['chunks']} (train {s['chunks_train']}, eval {s['chunks_eval']}), "
            f"rest chunks: {s['rest_chunks']} ({rest_share:.1%})",
            f"64-bar windows of 32 latents, stride 2 bars: {s['windows_64_bars_stride_2_bars']} "
            f"(train {s['windows_64_bars_train']}, eval {s['windows_64_bars_eval']}); "
            f"disjoint: {s['windows_64_bars_disjoint']}; "
            f"tracks of 64+ bars: {s['tracks_of_64_bars_or_more']}",
            "by style: " + ", ".join(f"{style} {chunks} chunks / {s['tracks_by_style'][style]} tracks"
                                     for style, chunks in s["chunks_by_style"].items()),
            "summary_json=" + json.dumps(s, sort_keys=True),
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train.prepare_data",
        description="Extract monophonic melodies into a compact, incremental .npz corpus cache.",
    )
    parser.add_argument("--source", choices=("music21", "midi"), default="music21",
                        help="music21: the corpus bundled in the music21 package; "
                             "midi: every .mid/.midi file below --input")
    parser.add_argument("--input", type=Path, help="directory tree of MIDI files (--source midi)")
    parser.add_argument("--out", type=Path, help="cache file to write (default data/<source>.npz)")
    parser.add_argument("--eval-fraction", type=float, default=0.05,
                        help="share of pieces held out for evaluation (default 0.05)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="parallel parser processes (default: all cores)")
    parser.add_argument("--limit", type=int, help="read only the first N items (quick trial)")
    parser.add_argument("--rebuild", action="store_true", help="ignore the cached items in --out")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = Path("data") / f"{args.source}.npz"
    if not 0.0 <= args.eval_fraction < 1.0:
        parser.error(f"--eval-fraction must lie in [0, 1), got {args.eval_fraction}")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    try:
        cache = prepare(args)
    except ValueError as error:
        parser.error(str(error))
    print(format_summary(cache, args.out))


if __name__ == "__main__":
    main()
