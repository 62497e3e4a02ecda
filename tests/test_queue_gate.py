"""Specification of the queue's admission rules (demo.queue_gate): a client cannot choose its own
address by writing X-Forwarded-For entries, every queued request costs its client, and the
checks before batching accept exactly what the page's controls can send."""

from types import SimpleNamespace

import gradio as gr
import pytest

from demo.blocks import build_app
from demo.generate_tab import GENERATE_DEFAULTS, GENERATE_INPUTS, check_generation
from demo.outputs import HEAVY_WORK
from demo.queue_gate import (
    HEAVY_COST,
    LIGHT_COST,
    MAX_COST_PER_CLIENT,
    PROXY_HOPS_ENV,
    TRUST_FORWARDED_ENV,
    client_address,
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
