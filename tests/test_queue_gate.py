"""Specification of the queue's admission rules (demo.queue_gate): a client cannot choose its own
address by writing X-Forwarded-For entries, every queued request costs its client, and the
checks before batching accept exactly what the page's controls can send."""

from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest

from core.limits import PUBLIC_MAX_WORK, QUICK_WORK
from demo.blocks import build_app
from demo.generate_tab import (
    GENERATE_DEFAULTS,
    GENERATE_INPUTS,
    check_generation,
    check_live_generation,
    check_variations,
)
from demo.outputs import HEAVY_WORK, SAMPLERS
from demo.queue_gate import (
    HEAVY_COST,
    LIGHT_COST,
    MAX_COST_PER_CLIENT,
    PROXY_HOPS_ENV,
    QUICK_COST,
    QUICK_LANE,
    TRUST_FORWARDED_ENV,
    client_address,
    control_refusal,
    lane_for,
    refusal,
    request_cost,
)


def request_from(peer: str, forwarded: str | None = None) -> SimpleNamespace:
    headers = {} if forwarded is None else {"x-forwarded-for": forwarded}
    return SimpleNamespace(client=SimpleNamespace(host=peer), headers=headers)


@pytest.fixture
def behind_one_proxy(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv(TRUST_FORWARDED_ENV, "1")
    monkeypatch.delenv(PROXY_HOPS_ENV, raising=False)


def test_without_trust_forged_headers_change_nothing(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv(TRUST_FORWARDED_ENV, raising=False)
    addresses = {client_address(request_from("10.0.0.7", f"203.0.113.{i}")) for i in range(6)}
    assert addresses == {"10.0.0.7"}


def test_behind_one_proxy_the_entry_it_appended_is_the_client(behind_one_proxy):
    assert client_address(request_from("10.0.0.1", "198.51.100.4")) == "198.51.100.4"


def test_entries_the_client_wrote_before_the_proxys_never_count(behind_one_proxy):
    forged = [request_from("10.0.0.1", f"203.0.113.{i}, 198.51.100.4") for i in range(6)]
    assert {client_address(request) for request in forged} == {"198.51.100.4"}


def test_two_trusted_hops_take_the_second_entry_from_the_right(behind_one_proxy, monkeypatch):
    monkeypatch.setenv(PROXY_HOPS_ENV, "2")
    assert client_address(request_from("10.0.0.1", "203.0.113.9, 198.51.100.4, 10.0.0.2")) == "198.51.100.4"
    assert client_address(request_from("10.0.0.1", "10.0.0.2")) == "10.0.0.1"  # too few entries: the peer


def test_a_missing_header_falls_back_to_the_peer(behind_one_proxy):
    assert client_address(request_from("10.0.0.1")) == "10.0.0.1"


def test_a_bad_hop_count_is_refused_with_its_name(behind_one_proxy, monkeypatch):
    monkeypatch.setenv(PROXY_HOPS_ENV, "zero")
    with pytest.raises(ValueError, match=PROXY_HOPS_ENV):
        client_address(request_from("10.0.0.1", "198.51.100.4"))


def generate_inputs() -> dict:
    """/generate's input components by name (GENERATE_INPUTS order)."""
    fn = next(fn for fn in build_app().fns.values() if fn.api_name == "generate")
    return dict(zip(GENERATE_INPUTS, fn.inputs))


def test_the_generate_admission_check_accepts_exactly_what_its_sliders_allow():
    """One set of limits: a value the page's slider can send is never refused before batching, and a
    value past the slider is refused there (it would otherwise fail every request in its batch)."""
    sliders = {name: component for name, component in generate_inputs().items() if isinstance(component, gr.Slider)}
    assert {"bars", "steps", "tempo", "guidance"} <= set(sliders)
    for name, slider in sliders.items():
        for value in (slider.minimum, slider.maximum):
            check_generation([*({**GENERATE_DEFAULTS, name: value}.values())])
        for value in (slider.minimum - slider.step, slider.maximum + slider.step):
            with pytest.raises(gr.Error):
                check_generation([*({**GENERATE_DEFAULTS, name: value}.values())])


def test_the_key_dropdown_offers_exactly_the_keys_the_check_accepts():
    dropdown = generate_inputs()["key"]
    offered = [choice[1] if isinstance(choice, tuple) else choice for choice in dropdown.choices]
    for key in offered:
        check_generation([*({**GENERATE_DEFAULTS, "key": key}.values())])
    with pytest.raises(gr.Error, match="Key must be one of"):
        check_generation([*({**GENERATE_DEFAULTS, "key": "H"}.values())])


def test_every_queued_request_costs_its_client_and_heavy_ones_cost_more():
    assert request_cost(HEAVY_WORK["concurrency_id"]) == HEAVY_COST > request_cost("other") == LIGHT_COST == 1
    assert MAX_COST_PER_CLIENT // HEAVY_COST == 3, "three heavy requests at a time, as before"


def generate_values(**changes) -> list:
    return list({**GENERATE_DEFAULTS, **changes}.values())


def test_the_default_generate_takes_the_quick_lane_and_ddpm_on_many_bars_does_not():
    heavy = HEAVY_WORK["concurrency_id"]
    default = check_generation(generate_values())
    assert lane_for(heavy, default) == QUICK_LANE
    assert lane_for(heavy, check_live_generation([*generate_values(), False])) == QUICK_LANE, "audio included"
    ddpm_long = check_generation(generate_values(bars=256, sampler=SAMPLERS[1]))
    assert ddpm_long == 1000 * 128 > QUICK_WORK and lane_for(heavy, ddpm_long) == heavy
    assert lane_for(heavy, None) == heavy, "a heavy handler without an admission check stays heavy"
    assert lane_for("other", default) == "other", "only heavy handlers move"
    assert request_cost(QUICK_LANE) == QUICK_COST and MAX_COST_PER_CLIENT // QUICK_COST == 4


def test_the_public_ceiling_admits_ddpm_on_64_bars_but_not_on_256_or_as_variations():
    assert check_generation(generate_values(bars=64, sampler=SAMPLERS[1])) <= PUBLIC_MAX_WORK
    assert check_generation(generate_values(bars=256, sampler=SAMPLERS[1])) > PUBLIC_MAX_WORK
    assert check_variations([*generate_values(bars=32, sampler=SAMPLERS[1]), 4, True]) > PUBLIC_MAX_WORK
    assert check_variations([*generate_values(), 4, True]) <= QUICK_WORK * 5, "fast variations stay cheap"


def test_a_raw_value_its_control_cannot_take_is_refused_with_the_controls_name():
    fn = next(fn for fn in build_app().fns.values() if fn.api_name == "generate")
    assert control_refusal(fn, generate_values(steps=20)) is None
    message = control_refusal(fn, generate_values(steps=None))
    assert message == "Fast sampler steps takes a number from 5 to 200, got None."


def test_api_clients_get_the_refusal_as_a_validation_message_the_page_gets_its_status():
    api = SimpleNamespace(client=SimpleNamespace(host="10.0.0.3"), headers={"x-gradio-user": "api"})
    accepted, detail, state = refusal(api, "Wait a moment.", "queue_full")
    assert (accepted, state) == (False, "validator_error")
    assert detail == [{"__type__": "validate", "is_valid": False, "message": "Wait a moment.", "parameter_name": "request"}]
    assert refusal(request_from("10.0.0.3"), "Wait a moment.", "queue_full") == (False, "Wait a moment.", "queue_full")


@pytest.fixture
def gate_and_generate(monkeypatch):
    """A QueueGate installed on the app's queue (not served) and the /generate function's index."""
    from demo.blocks import QUEUE_SIZE
    from demo.queue_gate import QueueGate

    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv(TRUST_FORWARDED_ENV, raising=False)
    app = build_app()
    app.queue(max_size=QUEUE_SIZE)
    gate = QueueGate(app, {"generate_melodies": check_generation})
    gate.install()
    index = next(index for index, fn in app.fns.items() if fn.api_name == "generate")
    return gate, index


def join(gate, index: int, peer: str = "10.0.0.9", **changes):
    import asyncio

    body = SimpleNamespace(fn_index=index, session_hash=None, data=generate_values(**{"steps": 20, **changes}))
    return asyncio.run(gate.push(body, request_from(peer), None))


def test_on_a_public_space_ddpm_on_256_bars_is_refused_before_it_joins_and_64_bars_is_not(gate_and_generate,
                                                                                         monkeypatch):
    from demo.queue_gate import PUBLIC_LIMITS_ENV

    gate, index = gate_and_generate
    monkeypatch.setattr(gate, "_push", lambda *args: _accepted())
    assert join(gate, index, bars=256, sampler=SAMPLERS[1])[0], "a private app runs it"
    monkeypatch.setenv(PUBLIC_LIMITS_ENV, "1")
    accepted, message, state = join(gate, index, bars=256, sampler=SAMPLERS[1])
    assert (accepted, state) == (False, "error") and "more than this public Space runs at once" in message
    assert join(gate, index, peer="10.0.0.10", bars=64, sampler=SAMPLERS[1])[0]


async def _accepted():
    return True, "event-id", "success"


def test_a_cheap_request_is_queued_in_the_quick_lane_and_a_bad_one_not_at_all(gate_and_generate):
    gate, index = gate_and_generate
    accepted, event_id, _ = join(gate, index)
    assert accepted and gate.queue.event_ids_to_events[event_id].concurrency_id == QUICK_LANE
    accepted, event_id, _ = join(gate, index, bars=256, sampler=SAMPLERS[1])
    assert accepted and gate.queue.event_ids_to_events[event_id].concurrency_id == HEAVY_WORK["concurrency_id"]
    accepted, message, state = join(gate, index, steps=None)
    assert (accepted, state) == (False, "error") and message.startswith("Fast sampler steps takes a number")


def test_on_a_public_space_an_infilling_keeps_as_many_seam_candidates_as_fit_and_one_that_never_fits_is_refused(
        monkeypatch):
    from core.requests import InfillRequest
    from demo.infill_tab import infill_work, within_public_ceiling
    from demo.outputs import Refusal
    from demo.queue_gate import PUBLIC_LIMITS_ENV

    monkeypatch.delenv("SPACE_ID", raising=False)
    melody = np.zeros(64 * 16, np.int8)
    melody[::16] = 41  # a note in every bar of 64
    ddpm = InfillRequest.of(melody=melody, bars_to_regenerate=(9, 16), sampler="ddpm", steps=1000)
    assert infill_work(ddpm) == 4 * PUBLIC_MAX_WORK, "4 draws of DDPM over all 32 latents"
    assert within_public_ceiling(ddpm) is ddpm, "a private app runs it as asked"
    monkeypatch.setenv(PUBLIC_LIMITS_ENV, "1")
    assert within_public_ceiling(ddpm).seam_candidates == 1, "one DDPM draw over 64 bars fits"
    fast = InfillRequest.of(melody=melody, bars_to_regenerate=(9, 16), sampler="fast", steps=20)
    assert within_public_ceiling(fast).seam_candidates == 4
    assert infill_work(InfillRequest.of(melody=melody, bars_to_regenerate=(9, 16), sampler="fast", steps=20,
                                        resample=2)) == 3 * infill_work(fast), "each RePaint round steps again"
    longer = InfillRequest.of(melody=np.tile(melody, 2), bars_to_regenerate=(9, 16), sampler="ddpm", steps=1000)
    with pytest.raises(Refusal, match="more than this public Space runs at once"):
        within_public_ceiling(longer)
    baseline = InfillRequest.of(melody=np.tile(melody, 2), bars_to_regenerate=(9, 16), method="interpolation")
    assert infill_work(baseline) == 0 and within_public_ceiling(baseline).seam_candidates == 4
