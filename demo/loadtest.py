"""Load test of the app: concurrent gradio_client users, traffic to 127.0.0.1 only.

    python -m demo.loadtest [--users 8] [--requests 40] [--deadline 900]

Starts the app in this process on a free local port, then `--users` threads, each with its
own client, share `--requests` requests alternating between /generate (64 bars) and
/infill (a bundled example, bars 17-32). Bounded in count and time: requests not started by
`--deadline` seconds are not sent. Prints p50 / p95 latency per endpoint and the errors.
"""

from __future__ import annotations

import argparse
import itertools
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
from gradio_client import Client, handle_file

from demo.blocks import build_app, launch
from demo.outputs import HEAVY_CONCURRENCY
from demo.infill_tab import EXAMPLES


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_request(client: Client, kind: str, index: int, example: str) -> None:
    if kind == "generate":
        client.predict(bars=64, seed=index, api_name="/generate")
    else:
        client.predict(midi=handle_file(example), bars="17-32", seed=index, api_name="/infill")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--requests", type=int, default=40, help="requests in all (default 40)")
    parser.add_argument("--deadline", type=float, default=900, help="seconds after which no request starts")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 64 or not 1 <= args.requests <= 1000:
        parser.error("--users must lie in 1..64 and --requests in 1..1000")
    port = free_local_port()
    app = build_app()
    launch(app, port, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    example = str(next(iter(EXAMPLES.values())))
    local = threading.local()
    counter = itertools.count()
    started_at = time.perf_counter()
    latencies: dict[str, list[float]] = {"generate": [], "infill": []}
    errors: list[str] = []
    lock = threading.Lock()

    def worker(_: int) -> None:
        if not hasattr(local, "client"):
            local.client = Client(url, verbose=False)
        index = next(counter)
        if time.perf_counter() - started_at > args.deadline:
            with lock:
                errors.append(f"request {index}: not sent, past the deadline")
            return
        kind = "generate" if index % 2 == 0 else "infill"
        begin = time.perf_counter()
        try:
            one_request(local.client, kind, index, example)
        except Exception as error:  # every failure is counted and reported, none stops the test
            with lock:
                errors.append(f"request {index} ({kind}): {type(error).__name__}: {error}")
            return
        with lock:
            latencies[kind].append(time.perf_counter() - begin)

    try:
        with ThreadPoolExecutor(max_workers=args.users) as pool:
            list(pool.map(worker, range(args.requests)))
    finally:
        app.close()
    wall = time.perf_counter() - started_at
    print(f"{args.users} users, {args.requests} requests, server concurrency {HEAVY_CONCURRENCY}, wall {wall:.1f} s")
    everything = latencies["generate"] + latencies["infill"]
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
