"""The app's admission rules, applied when a request asks to join Gradio's queue.

Gradio's queue already bounds the number of waiting requests (`max_size`) and runs the
heavy handlers `HEAVY_CONCURRENCY` at a time. `QueueGate` wraps its `push` to add:

- a clear "busy" answer instead of "Queue is full. Max size is ...";
- a cost budget per client address over every queued request it has waiting or running:
  a heavy one (sampling, decoding, rendering) costs HEAVY_COST, any other queued one
  LIGHT_COST, and an address may hold MAX_COST_PER_CLIENT (3 heavy requests, or 9 light
  ones), so that no client can fill the queue and starve the others, through a cheap
  private handler either;
- input checks that run before a request joins a batch (`batch=True` handlers): one request
  with a bad value would otherwise fail every request batched with it.

The client address is the socket peer, or, where the app runs behind a trusted proxy (on
Hugging Face Spaces, or with MELODY_TRUST_FORWARDED_FOR=1), the X-Forwarded-For entry that
the nearest trusted proxy wrote: each proxy appends the address it was reached from, so with
MELODY_TRUSTED_PROXY_HOPS proxies in front of the app (1 on Spaces, the default) the client is
that many entries from the right. Entries further left are whatever the client sent and never
count. Uvicorn itself is told to trust no forwarded header (`FORWARDED_ALLOW_IPS`, set empty
by `demo.blocks.launch` unless the operator sets it), so the peer is always the socket's.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import gradio as gr
from gradio.route_utils import get_fn

from demo.outputs import HEAVY_WORK

HEAVY_COST, LIGHT_COST = 3, 1  # what a queued request of the heavy group / of any other handler costs its client
MAX_HEAVY_PER_CLIENT = 3  # heavy requests one address may have waiting or running ...
MAX_COST_PER_CLIENT = MAX_HEAVY_PER_CLIENT * HEAVY_COST  # ... the budget that allows it
TRUST_FORWARDED_ENV = "MELODY_TRUST_FORWARDED_FOR"
PROXY_HOPS_ENV = "MELODY_TRUSTED_PROXY_HOPS"
BUSY_MESSAGE = "The app is busy right now: try again in a moment."
CLIENT_BUSY_MESSAGE = (f"You already have requests waiting or running (at most {MAX_HEAVY_PER_CLIENT} that "
                       "generate or play music at a time): wait for one of them to finish, then try again.")
InputCheck = Callable[[Sequence], None]  # raises (gr.Error, ValueError, ...) for raw inputs it refuses


def trusts_forwarded_for() -> bool:
    return bool(os.environ.get("SPACE_ID")) or os.environ.get(TRUST_FORWARDED_ENV) == "1"


def trusted_proxy_hops() -> int:
    """How many proxies in front of the app append to X-Forwarded-For (MELODY_TRUSTED_PROXY_HOPS, default 1)."""
    text = os.environ.get(PROXY_HOPS_ENV, "1")
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{PROXY_HOPS_ENV} must be a whole number >= 1, got {text!r}")
    return int(text)


def client_address(request) -> str:
    """The address a request came from (see the module docstring for the proxy rule)."""
    peer = request.client.host if request.client else "unknown"
    if not trusts_forwarded_for():
        return peer
    entries = [entry.strip() for entry in request.headers.get("x-forwarded-for", "").split(",") if entry.strip()]
    hops = trusted_proxy_hops()
    return entries[-hops] if len(entries) >= hops else peer


def request_cost(concurrency_id: str | None) -> int:
    """What one queued request of a handler in `concurrency_id` costs its client."""
    return HEAVY_COST if concurrency_id == HEAVY_WORK["concurrency_id"] else LIGHT_COST


class QueueGate:
    """Admission rules in front of `app`'s queue; `install` after `app.queue(...)`.

    input_checks: a handler function's name -> a check of its raw input list, applied to every event
    that runs that function (the public endpoint, and the page's own chains such as example clicks).
    """

    def __init__(self, app: gr.Blocks, input_checks: dict[str, InputCheck] | None = None,
                 max_cost_per_client: int = MAX_COST_PER_CLIENT):
        self.queue = app._queue
        self.input_checks = input_checks or {}
        self.max_cost_per_client = max_cost_per_client
        self._push = self.queue.push

    def install(self) -> None:
        self.queue.push = self.push

    def cost_held_by(self, address: str) -> int:
        """Summed cost of the events of `address` waiting in the queue or running now."""
        waiting = [event for events in self.queue.event_queue_per_concurrency_id.values() for event in events.queue]
        running = [event for job in self.queue.active_jobs if job for event in job]
        return sum(request_cost(event.concurrency_id) for event in waiting + running
                   if client_address(event.request) == address)

    async def push(self, body, request, username):
        """Gradio's `Queue.push`, with the rules above first: (accepted, event id or message, state)."""
        queue = self.queue
        if queue.max_size is not None and len(queue) >= queue.max_size:
            return False, BUSY_MESSAGE, "queue_full"
        try:
            fn = get_fn(queue.blocks, None, body)
        except Exception:  # a missing or unknown function index: Gradio's own push answers it
            fn = None
        if fn is not None:
            held = self.cost_held_by(client_address(request))
            if held + request_cost(fn.concurrency_id) > self.max_cost_per_client:
                return False, CLIENT_BUSY_MESSAGE, "queue_full"
            check = self.input_checks.get(fn.name)
            if check is not None:
                try:
                    check(list(body.data or []))
                except Exception as error:  # any refusal of raw input: the message says what to change
                    message = getattr(error, "message", None) or str(error)
                    return False, message or f"invalid input for {fn.name}", "error"
        return await self._push(body, request, username)
