"""The app's admission rules, applied when a request asks to join Gradio's queue.

Gradio's queue already bounds the number of waiting requests (`max_size`) and runs the
heavy handlers `HEAVY_CONCURRENCY` at a time. `QueueGate` wraps its `push` to add:

- a clear "busy" answer instead of "Queue is full. Max size is ...";
- at most `MAX_HEAVY_PER_CLIENT` heavy requests (waiting or running) per client address, so
  that one client cannot fill the queue and starve the others;
- input checks that run before a request joins a batch (`batch=True` handlers): one request
  with a bad value would otherwise fail every request batched with it.

The client address is the socket peer, or, where the app runs behind a trusted proxy (on
Hugging Face Spaces, or with MELODY_TRUST_FORWARDED_FOR=1), the first X-Forwarded-For entry.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import gradio as gr
from gradio.route_utils import get_fn

from demo.outputs import HEAVY_WORK

MAX_HEAVY_PER_CLIENT = 3  # heavy requests one address may have waiting or running
TRUST_FORWARDED_ENV = "MELODY_TRUST_FORWARDED_FOR"
BUSY_MESSAGE = "The app is busy right now: try again in a moment."
CLIENT_BUSY_MESSAGE = (f"You already have {MAX_HEAVY_PER_CLIENT} requests waiting or running: wait for one of them "
                       "to finish, then try again.")
InputCheck = Callable[[Sequence], None]  # raises (gr.Error, ValueError, ...) for raw inputs it refuses


def trusts_forwarded_for() -> bool:
    return bool(os.environ.get("SPACE_ID")) or os.environ.get(TRUST_FORWARDED_ENV) == "1"


def client_address(request) -> str:
    """The address a request came from (see the module docstring for the proxy rule)."""
    forwarded = request.headers.get("x-forwarded-for", "") if trusts_forwarded_for() else ""
    if forwarded.strip():
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


class QueueGate:
    """Admission rules in front of `app`'s queue; `install` after `app.queue(...)`.

    input_checks: a handler function's name -> a check of its raw input list, applied to every event
    that runs that function (the public endpoint, and the page's own chains such as example clicks).
    """

    def __init__(self, app: gr.Blocks, input_checks: dict[str, InputCheck] | None = None,
                 max_heavy_per_client: int = MAX_HEAVY_PER_CLIENT):
        self.queue = app._queue
        self.input_checks = input_checks or {}
        self.max_heavy_per_client = max_heavy_per_client
        self._push = self.queue.push

    def install(self) -> None:
        self.queue.push = self.push

    def heavy_requests_of(self, address: str) -> int:
        """Heavy events of `address` waiting in the queue or running now."""
        waiting = [event for events in self.queue.event_queue_per_concurrency_id.values() for event in events.queue]
        running = [event for job in self.queue.active_jobs if job for event in job]
        return sum(event.concurrency_id == HEAVY_WORK["concurrency_id"] and client_address(event.request) == address
                   for event in waiting + running)

    async def push(self, body, request, username):
        """Gradio's `Queue.push`, with the rules above first: (accepted, event id or message, state)."""
        queue = self.queue
        if queue.max_size is not None and len(queue) >= queue.max_size:
            return False, BUSY_MESSAGE, "queue_full"
        try:
            fn = get_fn(queue.blocks, None, body)
        except Exception:  # a missing or unknown function index: Gradio's own push answers it
            fn = None
        if fn is not None and fn.concurrency_id == HEAVY_WORK["concurrency_id"]:
            if self.heavy_requests_of(client_address(request)) >= self.max_heavy_per_client:
                return False, CLIENT_BUSY_MESSAGE, "queue_full"
            check = self.input_checks.get(fn.name)
            if check is not None:
                try:
                    check(list(body.data or []))
                except Exception as error:  # any refusal of raw input: the message says what to change
                    message = getattr(error, "message", None) or str(error)
                    return False, message or f"invalid input for {fn.name}", "error"
        return await self._push(body, request, username)
