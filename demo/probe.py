"""Replay of the hostile-user findings against the app: one line per finding with its figure.

    python -m demo.probe [--flood-seconds 20] [--skip-memory]

Starts the app in this process on a free local port (traffic to 127.0.0.1 only; clients tell
their address apart by an X-Forwarded-For header the app is told to trust, as behind the
Spaces proxy) and replays what a hostile client tried: forged addresses, a queue flood through
a cheap handler, a bad value in a batch, an upload flood, two 29-minute previews at once, values
of the wrong type on every endpoint, an oversized text field, a number past 2**64, a file with
1,320 instruments, leftovers on disk and routes that answered a bare 500. The fairness scenario
(a greedy client against four default Generates) is `python -m demo.loadtest --fairness 10`.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import httpx
import mido
import pretty_midi
from gradio.utils import get_upload_folder
from gradio_client import handle_file

from core.limits import UPLOAD_DISK_BYTES
from core.music.midi_io import pretty_midi_to_bytes
from demo.blocks import build_app, launch
from demo.generate_tab import GENERATE_DEFAULTS, GENERATE_INPUTS
from demo.infill_tab import EXAMPLES
from demo.loadtest import free_local_port, new_client
from demo.outputs import OUTPUT_DIR, SAMPLERS
from demo.queue_gate import TRUST_FORWARDED_ENV
from demo.request_guard import stored_uploads

UPLOAD_FLOOD_FILE_BYTES = int(7.9 * 2**20)


def rss_mib() -> float:
    """This process's resident memory (the app runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report(finding: str, figure: str) -> None:
    print(f"{finding:<58} {figure}", flush=True)


class Probe:
    def __init__(self, app, url: str, downloads: Path):
        self.app, self.url, self.downloads = app, url, downloads
        self.fn_index = {fn.api_name or fn.name: index for index, fn in app.fns.items()}

    def join(self, fn: str, data: list, address: str, peer_forged: str | None = None) -> httpx.Response:
        """Ask the queue to run `fn` with raw `data`, as `address` (or with a forged first entry)."""
        forwarded = address if peer_forged is None else f"{peer_forged}, {address}"
        return httpx.post(f"{self.url}gradio_api/queue/join",
                          json={"data": data, "fn_index": self.fn_index[fn], "session_hash": uuid.uuid4().hex},
                          headers={"X-Forwarded-For": forwarded}, timeout=30)

    def heavy_data(self, seed: int) -> list:
        """/generate's raw inputs for DDPM on 8 bars: a heavy request (past the quick lane), about 3 s."""
        return list({**GENERATE_DEFAULTS, "bars": 8, "seed": seed, "sampler": SAMPLERS[1], "steps": 20}.values())

    def forged_addresses(self) -> None:
        accepted = sum(self.join("generate", self.heavy_data(index), "198.51.100.7", f"203.0.113.{index}").is_success
                       for index in range(6))
        report("trusted proxy: 6 heavy requests, forged first entries", f"{accepted} accepted (cap 3)")
        self.wait_idle()
        os.environ.pop(TRUST_FORWARDED_ENV)
        try:
            accepted = sum(self.join("generate", self.heavy_data(index), f"203.0.113.{index}").is_success
                           for index in range(6))
        finally:
            os.environ[TRUST_FORWARDED_ENV] = "1"
        report("no proxy trusted: 6 heavy requests, forged headers", f"{accepted} accepted (cap 3)")
        self.wait_idle()

    def wait_idle(self) -> None:
        """Until the app's queue is empty and nothing runs."""
        queue = self.app._queue
        while len(queue) or any(job is not None for job in queue.active_jobs):
            time.sleep(0.2)

    def client_over_budget(self) -> None:
        client = new_client(self.url, 40, self.downloads)
        jobs = [client.submit(bars=8, seed=index, sampler=SAMPLERS[1], api_name="/generate") for index in range(3)]
        time.sleep(1)
        try:
            client.predict(bars=8, seed=9, sampler=SAMPLERS[1], api_name="/generate")
            answer = "accepted"
        except Exception as error:  # the message is the figure
            answer = str(error).splitlines()[-1][:90]
        for job in jobs:
            job.result()
        report("gradio_client over its budget sees", answer)

    def queue_flood(self, seconds: float) -> None:
        """4 threads of one address join a cheap private handler for `seconds`; another address generates."""
        stop = time.monotonic() + seconds
        query = "?seed=1"
        counts = {"accepted": 0, "refused": 0}
        lock = threading.Lock()

        def flood() -> None:
            while time.monotonic() < stop:
                ok = self.join("replay_query", [query], "203.0.113.66").is_success
                with lock:
                    counts["accepted" if ok else "refused"] += 1

        client = new_client(self.url, 41, self.downloads)
        with ThreadPoolExecutor(4) as pool:
            for _ in range(4):
                pool.submit(flood)
            successes = 0
            for index in range(10):
                try:
                    client.predict(seed=index, api_name="/generate")
                    successes += 1
                except Exception:  # counted as a failure
                    pass
        report(f"{seconds:.0f} s flood of a cheap handler from one address",
               f"{successes}/10 default Generates of another address succeed "
               f"(flood: {counts['accepted']} joined, {counts['refused']} refused)")

    def bad_member_in_batch(self) -> None:
        clients = [new_client(self.url, 50 + index, self.downloads) for index in range(4)]
        jobs = [client.submit(seed=index, **({"steps": 300} if index == 0 else {}), api_name="/generate")
                for index, client in enumerate(clients)]
        outcomes = []
        for job in jobs:
            try:
                job.result()
                outcomes.append("melody")
            except Exception as error:  # the bad member's refusal
                outcomes.append(f"refused ({str(error).splitlines()[-1][:60]})")
        report("steps=300 batched with 3 valid requests", "; ".join(outcomes))

    def upload_flood(self) -> None:
        blob = os.urandom(UPLOAD_FLOOD_FILE_BYTES)
        statuses = []
        for index in range(26):  # 200 MB
            upload = {"files": (f"flood-{index}.mid", blob + bytes([index]))}
            answer = httpx.post(f"{self.url}gradio_api/upload", files=upload,
                                headers={"X-Forwarded-For": "203.0.113.77"}, timeout=60)
            statuses.append(answer.status_code)
        on_disk = sum(path.stat().st_size for path in stored_uploads(Path(get_upload_folder())))
        report("200 MB of uploads from one address in a minute",
               f"{statuses.count(200)} accepted, {len(statuses) - statuses.count(200)} refused "
               f"({sorted(set(statuses))}); uploads on disk {on_disk / 2**20:.0f} MB "
               f"(ceiling {UPLOAD_DISK_BYTES / 2**20:.0f} MB)")
        many = httpx.post(f"{self.url}gradio_api/upload", files=[("files", (f"{i}.mid", b"MThd")) for i in range(50)],
                          headers={"X-Forwarded-For": "203.0.113.78"}, timeout=60)
        unnamed = httpx.post(f"{self.url}gradio_api/upload", files={"files": ("", b"MThd")},
                             headers={"X-Forwarded-For": "203.0.113.79"}, timeout=60)
        report("50 files in one upload; a file part without a name",
               f"{many.status_code} {many.text[:50]!r}; {unnamed.status_code} {unnamed.text[:50]!r}")

    def long_previews(self, work: Path) -> None:
        """Two concurrent /listen of 256 bars at 35 BPM (29 minutes of audio each)."""
        melody = pretty_midi.PrettyMIDI(initial_tempo=35)
        line = pretty_midi.Instrument(0)
        beat = 60 / 35
        line.notes = [pretty_midi.Note(90, 60 + (step * 5) % 12, step * beat, (step + 1) * beat)
                      for step in range(1024)]
        melody.instruments.append(line)
        path = work / "long.mid"
        path.write_bytes(pretty_midi_to_bytes(melody))
        gc.collect()
        idle = rss_mib()
        peak = [idle]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mib())
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        clients = [new_client(self.url, 60 + index, self.downloads) for index in range(2)]
        jobs = [client.submit(midi_path=handle_file(str(path)), tempo_bpm=35, api_name="/listen") for client in clients]
        for job in jobs:
            job.result()
        done.set()
        watcher.join()
        gc.collect()
        time.sleep(1)
        report("two concurrent 29-minute previews (/listen)",
               f"idle {idle:.0f} MB, peak +{peak[0] - idle:.0f} MB, resting +{rss_mib() - idle:.0f} MB")

    def wrong_types(self, work: Path) -> None:
        example = str(next(iter(EXAMPLES.values())))
        endpoints = {"/generate": {name: None for name in GENERATE_INPUTS},
                     "/variations": {**{name: None for name in GENERATE_INPUTS}, "count": None},
                     "/generate_long": {"bars": None, "seed": None, "tempo": None, "instrument": None},
                     "/infill": {"bars": None, "seed": None, "line": None, "tempo": None},
                     "/continue": {"add_bars": None, "seed": None, "tempo": None},
                     "/listen": {"program_name": None, "tempo_bpm": None, "line": None}}
        client = new_client(self.url, 70, self.downloads)
        nulls = 0
        for endpoint, fields in endpoints.items():
            base = ({"midi": handle_file(example), "source": "Uploaded MIDI"} if endpoint in ("/infill", "/continue")
                    else {"midi_path": handle_file(example)} if endpoint == "/listen" else {})
            for field in fields:
                kind, value = ("a list", [1, 2]) if field not in ("style", "key") else ("an object", {"a": 1})
                try:
                    client.predict(**{**base, field: value}, api_name=endpoint)
                    message = "(accepted)"
                except Exception as error:  # the message is the figure
                    message = str(error).splitlines()[-1].strip() or "(no message)"
                nulls += message in ("(no message)", "None", "")
                report(f"{endpoint} {field} = {kind}", message[:110])
        report("wrong-typed values answered without a message", str(nulls))

    def oversized_and_huge(self) -> None:
        answer = httpx.post(f"{self.url}gradio_api/queue/join", timeout=60,
                            json={"data": [*GENERATE_DEFAULTS.values()][:7] + ["x" * 50 * 2**20],
                                  "fn_index": self.fn_index["generate"], "session_hash": "s"})
        report("a 50 MB style string", f"{answer.status_code} {answer.text[:80]!r}")
        client = new_client(self.url, 80, self.downloads)
        try:
            client.predict(bars=2**64, api_name="/generate")
            message = "(accepted)"
        except Exception as error:  # the figure
            message = str(error).splitlines()[-1].strip()
        report("bars = 2**64", message[:110])
        report("message wrapped in quotes", str(message.startswith(("'", '"'))))
        plain = httpx.post(f"{self.url}gradio_api/run/predict", json={"data": []}, timeout=30)
        report("POST /gradio_api/run/predict", f"{plain.status_code} {plain.text[:70]!r}")

    def many_instruments(self, work: Path) -> None:
        """One track named like a script whose 1,320 program changes make 1,320 instruments."""
        track = mido.MidiTrack([mido.MetaMessage("track_name", name="<img src=x onerror=alert(1)>")])
        for index in range(1320):
            channel = [number for number in range(16) if number != 9][index % 15]
            track += [mido.Message("program_change", channel=channel, program=(index // 15) % 128),
                      mido.Message("note_on", channel=channel, note=60 + index % 12, velocity=80),
                      mido.Message("note_off", channel=channel, note=60 + index % 12, time=60)]
        path = work / "many.mid"
        mido.MidiFile(tracks=[track], ticks_per_beat=480).save(str(path))
        client = new_client(self.url, 90, self.downloads)
        begin = time.perf_counter()
        try:
            table, _roll, _audio = client.predict(midi_path=handle_file(str(path)), api_name="/listen")
            figure = (f"{table.count(chr(10)) + 1} table lines, {len(table) / 1024:.1f} kB in "
                      f"{time.perf_counter() - begin:.1f} s; raw '<img' in it: {'<img' in table}")
        except Exception as error:  # the refusal is the figure
            figure = f"refused: {str(error).splitlines()[-1][:90]}"
        report("Listen on a file with 1,320 instruments", figure)

    def leftovers(self) -> None:
        before = {path for path in OUTPUT_DIR.glob("*")} if OUTPUT_DIR.exists() else set()
        eval_before = set(Path(tempfile.gettempdir()).glob("eval-*"))
        client = new_client(self.url, 95, self.downloads)
        for seed in range(2):
            client.predict(source="Bundled example", bars="5-8", seed=seed, api_name="/infill")
        new = [path for path in OUTPUT_DIR.glob("*") if path not in before]
        empty = [path for path in new if path.stat().st_size == 0]
        report("2 API infills: new files in the output folder",
               f"{len(new)} ({len(empty)} empty); new eval-* folders "
               f"{len(set(Path(tempfile.gettempdir()).glob('eval-*')) - eval_before)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood-seconds", type=float, default=20, help="length of the queue flood (default 20)")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the two 29-minute previews")
    args = parser.parse_args(argv)
    os.environ[TRUST_FORWARDED_ENV] = "1"
    port = free_local_port()
    app = build_app()
    launch(app, port, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    with tempfile.TemporaryDirectory(prefix="probe-") as folder:
        work = Path(folder)
        probe = Probe(app, f"http://127.0.0.1:{port}/", work / "downloads")
        try:
            probe.forged_addresses()
            probe.client_over_budget()
            probe.queue_flood(args.flood_seconds)
            probe.bad_member_in_batch()
            probe.upload_flood()
            if not args.skip_memory:
                probe.long_previews(work)
            probe.wrong_types(work)
            probe.oversized_and_huge()
            probe.many_instruments(work)
            probe.leftovers()
        finally:
            app.close()


if __name__ == "__main__":
    main()
