"""The app's admission rules, applied when a request asks to join Gradio's queue.

Gradio's queue already bounds the number of waiting requests (`max_size`) and runs the
heavy handlers `HEAVY_CONCURRENCY` at a time. `QueueGate` wraps its `push` to add:

- a clear "busy" answer instead of "Queue is full. Max size is ...";
- admission checks of a handler's raw inputs, run before the request joins the queue (and a
  batch, for `batch=True` handlers: one request with a bad value would otherwise fail every
  request batched with it); a check returns what the request asks of the machine, in sampler
  evaluations of one latent (`core.limits.sampling_work`). Every request's raw inputs must
  also pass their controls' own preprocessing (`control_refusal`);
- a quick lane: a heavy request that asks at most QUICK_WORK (the default Generate, and up to
  200 fast steps on 32 bars) runs in its own lane of QUICK_CONCURRENCY beside the heavy
  group's HEAVY_CONCURRENCY, so that it never waits behind DDPM on 256 bars;
- on a public Space (SPACE_ID set, or MELODY_PUBLIC_LIMITS=1), a ceiling: a request asking
  more than PUBLIC_MAX_WORK is refused with a message that says what fits;
- a cost budget per client address over every queued request it has waiting or running:
  a heavy one (sampling, decoding, rendering) costs HEAVY_COST, a quick-lane one QUICK_COST,
  any other queued one LIGHT_COST, and an address may hold MAX_COST_PER_CLIENT (3 heavy
  requests, 4 quick ones or 9 light ones), so that no client can fill the queue and starve
  the others, through a cheap private handler either.

The client address is the socket peer, or, where the app runs behind a trusted proxy (on
Hugging Face Spaces, or with MELODY_TRUST_FORWARDED_FOR=1), the X-Forwarded-For entry that
the nearest trusted proxy wrote: each proxy appends the address it was reached from, so with
MELODY_TRUSTED_PROXY_HOPS proxies in front of the app (1 on Spaces, the default) the client is
that many entries from the right. Entries further left are whatever the client sent and never
count. Uvicorn itself is told to trust no forwarded header (`FORWARDED_ALLOW_IPS`, set empty
by `demo.blocks.launch` unless the operator sets it), so the peer is always the socket's.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Sequence

import gradio as gr
from gradio.queueing import EventQueue
from gradio.route_utils import get_fn

from core.limits import PUBLIC_MAX_WORK, QUICK_WORK, shown
from demo.outputs import HEAVY_WORK, LOGGED_MESSAGE_CHARS, Refusal

QUICK_LANE = "quick-work"  # the concurrency group that heavy requests asking at most QUICK_WORK move to
QUICK_CONCURRENCY = 1
HEAVY_COST, QUICK_COST, LIGHT_COST = 3, 2, 1  # what a queued heavy / quick-lane / other request costs its client
MAX_HEAVY_PER_CLIENT = 3  # heavy requests one address may have waiting or running ...
MAX_COST_PER_CLIENT = MAX_HEAVY_PER_CLIENT * HEAVY_COST  # ... the budget that allows it
TRUST_FORWARDED_ENV = "MELODY_TRUST_FORWARDED_FOR"
PROXY_HOPS_ENV = "MELODY_TRUSTED_PROXY_HOPS"
PUBLIC_LIMITS_ENV = "MELODY_PUBLIC_LIMITS"
LOG = logging.getLogger(__name__)
BUSY_MESSAGE = "The app is busy right now: try again in a moment."
CLIENT_BUSY_MESSAGE = (f"You already have requests waiting or running (at most {MAX_HEAVY_PER_CLIENT} that "
                       "generate or play music at a time): wait for one of them to finish, then try again.")
# a handler's raw input list -> what it asks (core.limits.sampling_work); raises (gr.Error,
# ValueError, ...) with the reason for inputs it refuses
AdmissionCheck = Callable[[Sequence], int]


def public_limits() -> bool:
    """Whether the public Space's ceiling on one request's work applies."""
    return bool(os.environ.get("SPACE_ID")) or os.environ.get(PUBLIC_LIMITS_ENV) == "1"


def ceiling_message(work: int) -> str:
    return (f"This request asks about {work:,} sampler steps x latents x melodies, more than this public Space "
            f"runs at once ({PUBLIC_MAX_WORK:,}): use the fast sampler, fewer bars or fewer variations (DDPM's "
            f"1000 steps fit up to 64 bars of one melody), or run the app on your own machine.")


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


EXPECTED_BY_CONTROL = {gr.Slider: "a number", gr.Number: "a number", gr.Radio: "one of its choices",
                       gr.Dropdown: "one of its choices", gr.Checkbox: "true or false", gr.Textbox: "text"}


def expected_by(component) -> str | None:
    """What a control takes, in words (a number's range included); None for controls not checked here."""
    expected = next((text for kind, text in EXPECTED_BY_CONTROL.items() if isinstance(component, kind)), None)
    low, high = getattr(component, "minimum", None), getattr(component, "maximum", None)
    if expected == "a number" and low is not None and high is not None:
        return f"a number from {plain(low)} to {plain(high)}"
    if expected == "a number" and low is not None:
        return f"a number of at least {plain(low)}"
    return expected


def plain(number: float) -> str:
    """A bound as a person writes it: 2147483647, 0.5."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def control_refusal(fn, data: Sequence) -> str | None:
    """Why a raw input cannot pass its control's own preprocessing, or None. Gradio would answer such
    a request with a generic error that names no field, and fail every request batched with it.
    Controls that read files are left to the handler."""
    for component, value in zip(fn.inputs, data):
        expected = expected_by(component)
        if expected is None:
            continue
        try:
            component.preprocess(value)
        except Exception:  # any failure of the control: the message says what it takes
            return f"{component.label or 'An input'} takes {expected}, got {shown(value)}."
    return None


def refusal(request, message: str, state: str, logged: bool = False) -> tuple[bool, object, str]:
    """Push's answer for a refused request. gradio_client turns every 503 into its own "Queue is full!"
    and a 400 into a bare HTTP error, so its callers (header x-gradio-user: api) get the message as a
    validation error, which it shows; the page gets `state` (503 busy, 400 bad input) and the message.
    Each refusal is logged on one line, without a traceback (unless `logged` already: a `Refusal`)."""
    if not logged:
        LOG.warning("refused (%s) %s: %s", state, client_address(request), message[:LOGGED_MESSAGE_CHARS])
    if request.headers.get("x-gradio-user") == "api":
        return False, [{"__type__": "validate", "is_valid": False, "message": message, "parameter_name": "request"}], \
            "validator_error"
    return False, message, state


def request_cost(concurrency_id: str | None) -> int:
    """What one queued request in the concurrency group `concurrency_id` costs its client."""
    return {HEAVY_WORK["concurrency_id"]: HEAVY_COST, QUICK_LANE: QUICK_COST}.get(concurrency_id, LIGHT_COST)


def lane_for(concurrency_id: str | None, work: int | None) -> str | None:
    """The concurrency group a request of a handler in `concurrency_id` that asks `work` runs in."""
    quick = concurrency_id == HEAVY_WORK["concurrency_id"] and work is not None and work <= QUICK_WORK
    return QUICK_LANE if quick else concurrency_id


class QueueGate:
    """Admission rules in front of `app`'s queue; `install` after `app.queue(...)`.

    admission_checks: a handler function's name -> the check of its raw input list, applied to every
    event that runs that function (the public endpoint, and the page's own chains such as example
    clicks). A heavy handler without one always runs in the heavy group.
    """

    def __init__(self, app: gr.Blocks, admission_checks: dict[str, AdmissionCheck] | None = None,
                 max_cost_per_client: int = MAX_COST_PER_CLIENT):
        self.queue = app._queue
        self.admission_checks = admission_checks or {}
        self.max_cost_per_client = max_cost_per_client
        self._push = self.queue.push

    def install(self) -> None:
        self.queue.event_queue_per_concurrency_id.setdefault(QUICK_LANE, EventQueue(QUICK_LANE, QUICK_CONCURRENCY))
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
            return refusal(request, BUSY_MESSAGE, "queue_full")
        try:
            fn = get_fn(queue.blocks, None, body)
        except Exception:  # a missing or unknown function index: Gradio's own push answers it
            fn = None
        if fn is None:
            return await self._push(body, request, username)
        work = None
        data = list(body.data or [])
        check = self.admission_checks.get(fn.name)
        if check is not None:
            try:
                work = check(data)
            except Exception as error:  # any refusal of raw input: the message says what to change
                message = getattr(error, "message", None) or str(error)
                return refusal(request, message or f"invalid input for {fn.name}", "error",
                               logged=isinstance(error, Refusal))
            if public_limits() and work > PUBLIC_MAX_WORK:
                return refusal(request, ceiling_message(work), "error")
        if problem := control_refusal(fn, data):
            return refusal(request, problem, "error")
        lane = lane_for(fn.concurrency_id, work)
        if self.cost_held_by(client_address(request)) + request_cost(lane) > self.max_cost_per_client:
            return refusal(request, CLIENT_BUSY_MESSAGE, "queue_full")
        accepted, answer, state = await self._push(body, request, username)
        if accepted and lane != fn.concurrency_id:
            self._move(self.queue.event_ids_to_events[answer], lane)
        return accepted, answer, state

    def _move(self, event, lane: str) -> None:
        """Move a just-queued `event` to the concurrency group `lane` (Gradio's push awaits nothing
        between queueing it and returning, so it cannot have started)."""
        self.queue.event_queue_per_concurrency_id[event.concurrency_id].queue.remove(event)
        event.concurrency_id = lane
        self.queue.event_queue_per_concurrency_id[lane].queue.append(event)
