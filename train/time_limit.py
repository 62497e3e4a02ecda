"""A wall-clock limit for parsing untrusted or unpredictable input."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class TimeLimitExceeded(Exception):
    """The guarded block ran longer than its limit."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise `TimeLimitExceeded` in the block after `seconds` (None: no limit).

    Uses SIGALRM, so the limit applies only in a process's main thread (a worker process of
    a pool qualifies); in other threads the block runs unlimited, and callers there must
    bound their work by other means (size caps).
    """
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise TimeLimitExceeded(f"time limit of {seconds} s exceeded")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
