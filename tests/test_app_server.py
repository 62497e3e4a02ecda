"""The real app on a free local port, driven like its users drive it: gradio_client and a browser."""

import os
import shutil
from pathlib import Path

import httpx
import pretty_midi
import pytest
from gradio_client import Client, handle_file

from demo.blocks import build_app, launch
from demo.loadtest import free_local_port
from demo.outputs import HEAVY_CONCURRENCY, HEAVY_WORK
from tests.midi_factory import two_instrument_song

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server_url():
    app = build_app()
    port = free_local_port()
    launch(app, port, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def client(server_url):
    return Client(server_url, verbose=False)


def bars_of(midi_path: str, tempo_bpm: float = 120) -> float:
    return pretty_midi.PrettyMIDI(midi_path).get_end_time() / (4 * 60 / tempo_bpm)


def test_generate_endpoint_returns_a_midi_file_of_the_requested_length(client):
    audio, _roll, midi_path, audio_download = client.predict(bars=8, seed=1, api_name="/generate")
    assert midi_path.endswith(".mid") and bars_of(midi_path) == pytest.approx(8)
    assert Path(audio).stat().st_size > 20_000 and audio_download.endswith(".ogg")


def test_infill_endpoint_takes_an_uploaded_midi_and_a_bar_range(client, tmp_path):
    song = tmp_path / "song.mid"
    song.write_bytes(two_instrument_song())
    _original, _result, _roll, midi_path, _wav = client.predict(midi=handle_file(str(song)), bars="3-4", seed=0,
                                                                api_name="/infill")
    assert bars_of(midi_path) == pytest.approx(4), "the 4-bar lead line keeps its length"


def test_a_corrupt_upload_is_answered_with_an_error_and_the_next_request_succeeds(client, tmp_path):
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06 truncated")
    with pytest.raises(Exception, match="cannot be used"):
        client.predict(midi=handle_file(str(corrupt)), bars="1-2", seed=0, api_name="/infill")
    _audio, _roll, midi_path, _wav = client.predict(bars=4, seed=2, api_name="/generate")
    assert bars_of(midi_path) == pytest.approx(4)


def test_the_page_generates_plays_and_draws_in_headless_chromium(server_url, tmp_path):
    from playwright.sync_api import sync_playwright

    screenshot = Path(os.environ.get("APP_SCREENSHOT", tmp_path / "generate.png"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server_url)
        page.locator("#generate").click()
        page.wait_for_selector("#generated-audio audio[src]", state="attached", timeout=60_000)
        page.wait_for_selector("#generated-roll .js-plotly-plot .bars path", state="attached", timeout=60_000)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert screenshot.stat().st_size > 10_000


def test_direct_posts_around_the_queue_are_refused_private_handlers_included(server_url):
    for name in ("generate", "infill", "generate_long", "quick_evaluation"):
        response = httpx.post(f"{server_url}gradio_api/run/{name}", json={"data": []}, timeout=30)
        assert response.status_code == 404 and "join the queue" in response.text, name


def test_every_heavy_handler_counts_against_one_global_concurrency_limit():
    groups = {fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in build_app().fns.values()}
    heavy = {"generate_melody", "infill_melody", "generate_long", "describe_and_render", "quick_evaluation"}
    assert {groups[name] for name in heavy} == {(HEAVY_WORK["concurrency_id"], HEAVY_CONCURRENCY)}
    assert all(groups[name][0] != HEAVY_WORK["concurrency_id"] for name in set(groups) - heavy), \
        "light handlers (random seed, committed charts) never wait behind sampling"
