"""Specification of `demo.live_call.LiveCall`: a sampling call heard while it runs, and stopped on demand."""

import threading

import pytest

from core.progress import SamplerProgress
from demo.live_call import CallCancelled, LiveCall


def counting_call(steps: int, release: threading.Event | None = None):
    """A call that reports `steps` steps (waiting for `release` before each one after the first)."""
    def call(callback):
        for done in range(1, steps + 1):
            if release is not None and done > 1:
                release.wait()
            callback(SamplerProgress(done, steps, None))
        return f"{steps} steps done"
    return call


def test_updates_arrive_in_order_and_then_the_result():
    live = LiveCall(counting_call(5))
    updates = [update.done for update in live.updates() if update is not None]
    assert updates == [1, 2, 3, 4, 5] and live.result == "5 steps done"


def test_a_heartbeat_comes_while_the_call_has_nothing_new():
    release = threading.Event()
    live = LiveCall(counting_call(2, release), heartbeat_s=0.01)
    updates = live.updates()
    assert next(updates).done == 1
    assert next(updates) is None, "no second step yet: a heartbeat"
    release.set()
    assert [update.done for update in updates if update is not None] == [2]


def test_what_the_call_raises_reaches_the_reader():
    def failing(callback):
        callback(SamplerProgress(1, 2, None))
        raise ValueError("bars must be even")

    live = LiveCall(failing)
    with pytest.raises(ValueError, match="bars must be even"):
        list(live.updates())
    with pytest.raises(RuntimeError, match="has not returned a result"):
        live.result


def test_cancel_stops_the_call_at_its_next_step():
    release = threading.Event()
    live = LiveCall(counting_call(1000, release))
    updates = live.updates()
    assert next(updates).done == 1
    live.cancel()
    release.set()
    assert live.wait(5), "the worker ends"
    with pytest.raises(CallCancelled):
        list(updates)
