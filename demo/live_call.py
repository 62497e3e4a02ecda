"""A sampling call run in a worker thread, its progress heard while it runs, and stopped on demand.

A streaming Gradio handler (a generator) cannot run the sampler itself and still yield while
it works, and Gradio stops a cancelled generator only when it next yields. `LiveCall` runs
the call in a thread that reports every sampler step to a queue; the handler reads the
updates as they come (with a heartbeat in between, so that it can yield and be stopped), and
`cancel` makes the sampler stop at its next step.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, Iterator, TypeVar

from core.progress import ProgressCallback, SamplerProgress

T = TypeVar("T")
HEARTBEAT_S = 0.1  # longest wait between two updates handed to the handler


class CallCancelled(Exception):
    """Raised inside the worker at the sampler's next step after `LiveCall.cancel`."""


class LiveCall(Generic[T]):
    """`call(callback)` run in a daemon thread; `updates()` hands over its progress as it happens.

        live = LiveCall(lambda callback: pipeline.generate(request, callback))
        try:
            for update in live.updates():   # SamplerProgress, or None when nothing came for HEARTBEAT_S
                ...
        finally:
            live.cancel()                   # a no-op once the call has returned
        results = live.result
    """

    def __init__(self, call: Callable[[ProgressCallback], T], heartbeat_s: float = HEARTBEAT_S):
        self._heartbeat_s = heartbeat_s
        self._updates: queue.Queue[SamplerProgress | None] = queue.Queue()  # None: the call ended
        self._cancelled = threading.Event()
        self._error: BaseException | None = None
        self._result: T | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _report(self, update: SamplerProgress) -> None:
        if self._cancelled.is_set():
            raise CallCancelled
        self._updates.put(update)

    def _run(self, call: Callable[[ProgressCallback], T]) -> None:
        try:
            self._result = call(self._report)
        except BaseException as error:  # handed to the reader of `updates`
            self._error = error
        finally:
            self._updates.put(None)

    def updates(self) -> Iterator[SamplerProgress | None]:
        """Each progress update in order, None after every HEARTBEAT_S without one; ends when the
        call returns, and raises what the call raised."""
        while True:
            try:
                update = self._updates.get(timeout=self._heartbeat_s)
            except queue.Empty:
                yield None
                continue
            if update is None:
                break
            yield update
        if self._error is not None:
            raise self._error

    @property
    def result(self) -> T:
        """What the call returned (read it after `updates` has ended)."""
        if self._thread.is_alive() or self._error is not None:
            raise RuntimeError("the call has not returned a result: read updates() to its end first")
        return self._result  # type: ignore[return-value]

    def cancel(self) -> None:
        """Stop the call at its sampler's next step (it raises CallCancelled there)."""
        self._cancelled.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the worker thread has ended; False if it still runs after `timeout_s`."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
