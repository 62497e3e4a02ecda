"""Load test of the app: concurrent gradio_client users, traffic to 127.0.0.1 only.

    python -m demo.loadtest [--users 8] [--requests 40] [--endpoints generate infill] [--deadline 900]
    python -m demo.loadtest --disk 100
    python -m demo.loadtest --fairness 10

Starts the app in this process on a free local port, then `--users` threads, each with its
own client and its own address (an X-Forwarded-For header the app is told to trust, as
behind the Spaces proxy), share `--requests` requests that cycle through `--endpoints`:
/generate (64 bars), /infill (a bundled example, bars 17-32) and /listen (the audio of
that example). Bounded in count and time: requests not started by `--deadline` seconds are
not sent. Prints p50 / p95 latency per endpoint and the errors.

`--disk N` instead sends N worst-case requests in a row (/generate_long of 256 bars at
35 BPM, the slowest tempo whose audio the renderer still makes, then /listen of its MIDI:
29 minutes of audio) and prints the bytes the app's output folder and Gradio's cache hold.

`--fairness N` has one client hold its whole budget of the most expensive requests (DDPM on
256 bars, or the most a public Space allows with MELODY_PUBLIC_LIMITS=1) while 4 other
clients each send N default /generate requests; prints their p50 / p95 latency and what
the greedy client's request past its budget was answered.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file

from core.limits import MAX_BARS
from demo.blocks import build_app, launch
from demo.infill_tab import EXAMPLES
from demo.outputs import HEAVY_CONCURRENCY, OUTPUT_DIR, SAMPLERS
from demo.queue_gate import HEAVY_COST, MAX_COST_PER_CLIENT, TRUST_FORWARDED_ENV, public_limits

ENDPOINTS = ("generate", "infill", "listen")
WORST_CASE_BARS, WORST_CASE_TEMPO = 256, 35


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_request(client: Client, kind: str, index: int, example: str) -> None:
    if kind == "generate":
        client.predict(bars=64, seed=index, api_name="/generate")
    elif kind == "infill":
        client.predict(midi=handle_file(example), source="Uploaded MIDI", bars="17-32", seed=index, api_name="/infill")
    else:
        client.predict(midi_path=handle_file(example), api_name="/listen")


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def new_client(url: str, user: int, downloads: Path) -> Client:
    """A client with its own address (203.0.113.x, a documentation range) and download folder."""
    return Client(url, verbose=False, headers={"X-Forwarded-For": f"203.0.113.{user % 250 + 1}"},
                  download_files=str(downloads))


def disk_test(url: str, count: int, downloads: Path) -> None:
    """`count` worst-case requests in a row; prints what the server's folders hold afterwards."""
    cache = Path(get_upload_folder())
    cache_before = folder_bytes(cache) - folder_bytes(OUTPUT_DIR)
    client = new_client(url, 0, downloads)
    begin = time.perf_counter()
    for index in range(count):
        _roll, _matrix, midi = client.predict(bars=WORST_CASE_BARS, seed=index, tempo=WORST_CASE_TEMPO,
                                              api_name="/generate_long")
        _table, _roll, audio = client.predict(midi_path=handle_file(midi), tempo_bpm=WORST_CASE_TEMPO,
                                              api_name="/listen")
        print(f"request {index + 1}/{count}: audio {Path(audio).stat().st_size / 2**20:.1f} MB, output folder "
              f"{folder_bytes(OUTPUT_DIR) / 2**20:.0f} MB", flush=True)
    uploads = folder_bytes(cache) - folder_bytes(OUTPUT_DIR) - cache_before
    print(f"summary: {count} worst-case requests in {time.perf_counter() - begin:.0f} s leave "
          f"{folder_bytes(OUTPUT_DIR) / 2**20:.0f} MB in the output folder and {uploads / 2**20:.1f} MB more in "
          f"Gradio's cache (uploads), {(folder_bytes(OUTPUT_DIR) + uploads) / 2**20:.0f} MB in all")


def fairness_test(url: str, tries: int, downloads: Path, others: int = 4) -> None:
    """One greedy client's full budget of the most expensive requests against `others` clients'
    `tries` default Generates each; prints latencies and the greedy client's refusal."""
    greedy = new_client(url, 0, downloads)
    bars = 64 if public_limits() else MAX_BARS  # DDPM on 64 bars is the most a public Space runs
    held = [greedy.submit(bars=bars, seed=index, sampler=SAMPLERS[1], api_name="/generate")
            for index in range(MAX_COST_PER_CLIENT // HEAVY_COST)]
    time.sleep(2.0)  # all of them queued or running
    try:
        greedy.predict(bars=bars, seed=99, sampler=SAMPLERS[1], api_name="/generate")
        refusal = "accepted (the budget did not hold)"
    except Exception as error:  # the refusal is what this line reports
        refusal = f"refused: {error}"
    print(f"greedy client: {len(held)} requests of DDPM on {bars} bars queued; one more: {refusal}", flush=True)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def other_user(user: int) -> None:
        client = new_client(url, user, downloads)
        for index in range(tries):
            begin = time.perf_counter()
            try:
                client.predict(seed=user * 1000 + index, api_name="/generate")
            except Exception as error:  # counted and reported
                with lock:
                    errors.append(f"user {user}: {type(error).__name__}: {error}")
                continue
            with lock:
                latencies.append(time.perf_counter() - begin)

    with ThreadPoolExecutor(max_workers=others) as pool:
        list(pool.map(other_user, range(1, others + 1)))
    for job in held:
        job.cancel()
    for line in errors:
        print(f"error: {line}")
    p50, p95 = np.percentile(latencies, [50, 95]) if latencies else (float("nan"),) * 2
    print(f"summary: {others} other clients, {len(latencies)} of {others * tries} default Generates answered while "
          f"the greedy client held its budget: p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(latencies, default=0):.2f} s")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--requests", type=int, default=40, help="requests in all (default 40)")
    parser.add_argument("--endpoints", nargs="+", choices=ENDPOINTS, default=["generate", "infill"],
                        help="endpoints the requests cycle through (default: generate infill)")
    parser.add_argument("--deadline", type=float, default=900, help="seconds after which no request starts")
    parser.add_argument("--disk", type=int, default=0, metavar="N",
                        help="send N worst-case requests in a row and report the disk they leave instead")
    parser.add_argument("--fairness", type=int, default=0, metavar="N",
                        help="one client holds its budget of the most expensive requests while 4 others send N "
                             "default Generates each; report their latency instead")
    args = parser.parse_args(argv)
    if (not 1 <= args.users <= 64 or not 1 <= args.requests <= 1000 or not 0 <= args.disk <= 1000
            or not 0 <= args.fairness <= 100):
        parser.error("--users must lie in 1..64, --requests in 1..1000, --disk in 0..1000 and --fairness in 0..100")
    os.environ[TRUST_FORWARDED_ENV] = "1"  # each user's X-Forwarded-For is its address, as behind a proxy
    port = free_local_port()
    app = build_app()
    launch(app, port, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory(prefix="loadtest-downloads-") as folder:  # not in the server's cache
        try:
            if args.disk:
                disk_test(url, args.disk, Path(folder))
            elif args.fairness:
                fairness_test(url, args.fairness, Path(folder))
            else:
                mixed_load(url, args, Path(folder))
        finally:
            app.close()


def mixed_load(url: str, args: argparse.Namespace, downloads: Path) -> None:
    """`args.users` clients share `args.requests` requests cycling through `args.endpoints`; prints latencies."""
    example = str(next(iter(EXAMPLES.values())))
    local = threading.local()
    counter, users = itertools.count(), itertools.count()
    started_at = time.perf_counter()
    latencies: dict[str, list[float]] = {kind: [] for kind in args.endpoints}
    errors: list[str] = []
    lock = threading.Lock()

    def worker(_: int) -> None:
        if not hasattr(local, "client"):
            local.client = new_client(url, next(users), downloads)
        index = next(counter)
        if time.perf_counter() - started_at > args.deadline:
            with lock:
                errors.append(f"request {index}: not sent, past the deadline")
            return
        kind = args.endpoints[index % len(args.endpoints)]
        begin = time.perf_counter()
        try:
            one_request(local.client, kind, index, example)
        except Exception as error:  # every failure is counted and reported, none stops the test
            with lock:
                errors.append(f"request {index} ({kind}): {type(error).__name__}: {error}")
            return
        with lock:
            latencies[kind].append(time.perf_counter() - begin)

    with ThreadPoolExecutor(max_workers=args.users) as pool:
        list(pool.map(worker, range(args.requests)))
    wall = time.perf_counter() - started_at
    print(f"{args.users} users, {args.requests} requests, server concurrency {HEAVY_CONCURRENCY}, wall {wall:.1f} s")
    everything = [value for values in latencies.values() for value in values]
    for kind, values in (*latencies.items(), ("all", everything)):
        if values:
            p50, p95 = np.percentile(values, [50, 95])
            print(f"{kind}: n={len(values)} p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(values):.2f} s")
    for line in errors:
        print(f"error: {line}")
    print(f"summary: {len(everything)} ok, {len(errors)} errors, "
          f"p50 {np.percentile(everything, 50) if everything else float('nan'):.2f} s, "
          f"p95 {np.percentile(everything, 95) if everything else float('nan'):.2f} s, "
          f"{len(everything) / wall:.2f} requests/s")


if __name__ == "__main__":
    main()
