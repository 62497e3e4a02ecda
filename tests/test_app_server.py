"""The real app on a free local port, driven like its users drive it: gradio_client and a browser."""

import contextlib
import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pretty_midi
import pytest
import soundfile
from gradio_client import Client, handle_file
from gradio_client.client import Job
from gradio_client.exceptions import ValidationError
from gradio_client.utils import Status

from core.music.midi_io import extract_melodies, load_midi_file
from demo.blocks import QUEUE_SIZE, build_app, launch
from demo.loadtest import free_local_port
from demo.outputs import HEAVY_CONCURRENCY, HEAVY_WORK, SAMPLERS
from demo.queue_gate import BUSY_MESSAGE, MAX_HEAVY_PER_CLIENT, TRUST_FORWARDED_ENV
from demo.roll_player import PIXELS_PER_STEP
from tests.midi_factory import instrument, midi_bytes, note, two_instrument_song

pytestmark = pytest.mark.slow  # starts the app's server and a headless browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def served_app():
    app = build_app()
    port = free_local_port()
    launch(app, port, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield app, f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def server_url(served_app):
    return served_app[1]


@pytest.fixture(scope="module")
def client(server_url):
    return Client(server_url, verbose=False)


@contextlib.contextmanager
def chromium_page(**options) -> Iterator:
    """A page of headless Chromium opened with `options` (viewport, is_mobile, permissions, ...),
    its browser closed after the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser.new_context(**options).new_page()
        finally:
            browser.close()


def served(server_url: str, href: str) -> str:
    """The address of a link of the page (Gradio writes them relative to the app)."""
    return href if href.startswith("http") else server_url + href.lstrip("/")


def bars_of(midi_path: str, tempo_bpm: float = 120) -> float:
    return pretty_midi.PrettyMIDI(midi_path).get_end_time() / (4 * 60 / tempo_bpm)


def test_generate_endpoint_returns_a_midi_file_of_the_requested_length_and_listen_renders_it(client):
    _roll, midi_path, _query, _settings = client.predict(bars=8, seed=1, api_name="/generate")
    assert midi_path.endswith(".mid") and bars_of(midi_path) == pytest.approx(8)
    table, _roll, audio = client.predict(midi_path=handle_file(midi_path), api_name="/listen")
    samples, rate = soundfile.read(audio)
    assert "| **1** (chosen) |" in table and audio.endswith(".ogg")
    assert len(samples) / rate == pytest.approx(16.0, abs=1.5)


def test_infill_endpoint_takes_an_uploaded_midi_and_a_bar_range(client, tmp_path):
    song = tmp_path / "song.mid"
    song.write_bytes(two_instrument_song())
    _roll, midi_path = client.predict(midi=handle_file(str(song)), source="Uploaded MIDI", bars="3-4", seed=0,
                                      api_name="/infill")
    assert bars_of(midi_path) == pytest.approx(4), "the 4-bar lead line keeps its length"
    _roll, longer = client.predict(midi=handle_file(str(song)), source="Uploaded MIDI", add_bars=6, seed=0,
                                   api_name="/continue")
    assert 4 < bars_of(longer) <= 10, "continued by up to 6 bars (trailing silence is not written)"


def test_a_file_sent_by_a_script_is_the_melody_worked_on_whatever_source_it_leaves_at_the_default(client, tmp_path):
    song = tmp_path / "song.mid"
    song.write_bytes(two_instrument_song())
    tune = extract_melodies(load_midi_file(song))[0].melody  # (64,) the lead, the file's likeliest tune
    melody_of = lambda path: extract_melodies(load_midi_file(path))[0].melody  # noqa: E731
    _roll, midi_path = client.predict(midi=handle_file(str(song)), bars="3-4", seed=0, api_name="/infill")
    assert bars_of(midi_path) == pytest.approx(4), "the file's 4 bars, not the 64-bar bundled example"
    assert np.array_equal(melody_of(midi_path)[:32], tune[:32]), "bars 1-2 kept note for note"
    _roll, longer = client.predict(midi=handle_file(str(song)), add_bars=4, seed=0, api_name="/continue")
    assert np.array_equal(melody_of(longer)[:64], tune) and bars_of(longer) > 4, "the file's 4 bars, then new ones"
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06 truncated")
    with pytest.raises(Exception, match="cannot be used"):
        client.predict(midi=handle_file(str(corrupt)), bars="1-2", api_name="/infill")
    with pytest.raises(Exception, match="also asks for the last generation"):
        client.predict(midi=handle_file(str(song)), source="Last generation", add_bars=4, api_name="/continue")


def test_a_corrupt_upload_is_answered_with_an_error_and_the_next_request_succeeds(client, tmp_path):
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06 truncated")
    with pytest.raises(Exception, match="cannot be used"):
        client.predict(midi=handle_file(str(corrupt)), source="Uploaded MIDI", bars="1-2", seed=0, api_name="/infill")
    _roll, midi_path, *_ = client.predict(bars=4, seed=2, api_name="/generate")
    assert bars_of(midi_path) == pytest.approx(4)


def test_the_page_generates_plays_and_draws_in_headless_chromium(server_url, tmp_path):
    screenshot = Path(os.environ.get("APP_SCREENSHOT", tmp_path / "generate.png"))
    with chromium_page(viewport={"width": 1400, "height": 1100}) as page:
        page.goto(server_url)
        page.locator("#generate").click()
        page.wait_for_selector("#generated-roll .roll-note", state="attached", timeout=60_000)
        page.wait_for_selector("#generated-roll .roll-audio audio[src]", state="attached", timeout=60_000)
        page.wait_for_function("document.querySelector('#generated-roll .roll-score').naturalWidth > 0",
                               timeout=30_000)
        page.screenshot(path=str(screenshot), full_page=True)
        drawn = page.locator("#generated-roll .roll-note").count()
        midi_href = page.locator("#generated-midi a[href]").first.get_attribute("href")
        midi = page.request.get(served(server_url, midi_href)).body()
        score_href = page.locator("#generated-roll .roll-score").get_attribute("data-url")
        score = page.request.get(served(server_url, score_href)).text()
        abc_href = page.get_by_role("link", name="ABC").get_attribute("href")
        abc = page.request.get(served(server_url, abc_href)).text()
        page.wait_for_function("document.querySelector('#generated-roll .roll-audio audio').duration > 0",
                               timeout=30_000)
        audio = page.locator("#generated-roll .roll-audio audio").first.evaluate("a => a.duration")
    notes = pretty_midi.PrettyMIDI(io.BytesIO(midi)).instruments[0].notes
    assert drawn == len(notes) > 32, "the roll draws every note of the MIDI the page offers"
    assert score.count('class="measure"') == 32, "the score under the roll has its 32 bars"
    assert score.count('class="keyAccid"') == 2 * score.count('class="keySig"') > 0, "folk is in D: two sharps a line"
    assert "K:D" in abc and "M:4/4" in abc
    assert 64.0 <= audio <= 66.0, "32 bars at 120 BPM: 64 s, and the last note's release"


def test_a_browser_that_plays_no_ogg_gets_an_mp3_preview_that_plays(server_url):
    with chromium_page(viewport={"width": 1400, "height": 1100}) as page:
        # older Safari: Ogg Vorbis is not playable, MP3 is
        page.add_init_script("HTMLMediaElement.prototype.canPlayType = (type) => type.includes('ogg') ? '' : 'maybe';")
        page.goto(server_url)
        page.locator("#generate").click()
        page.wait_for_selector("#generated-roll .roll-audio audio[src]", state="attached", timeout=60_000)
        source = page.locator("#generated-roll .roll-audio audio").first.get_attribute("src")
        page.wait_for_function("document.querySelector('#generated-roll .roll-audio audio').duration > 0",
                               timeout=30_000)
        audio = page.locator("#generated-roll .roll-audio audio").first.evaluate("a => a.duration")
        download = page.locator("#generated-audio a[href]").first.get_attribute("href")
    assert source.endswith(".mp3") and download.endswith(".mp3")
    assert 64.0 <= audio <= 66.5, "32 bars at 120 BPM: 64 s, the release, and the encoder's padding"


def test_a_results_address_replays_it_to_the_identical_midi_bytes_and_copy_link_copies_it(server_url, client):
    _roll, midi_path, query, _settings = client.predict(bars=8, seed=5, style="renaissance", tempo=100,
                                                        api_name="/generate")
    with chromium_page(viewport={"width": 1400, "height": 1100},
                       permissions=["clipboard-read", "clipboard-write"]) as page:
        page.goto(f"{server_url}?{query}")
        page.wait_for_selector("#generated-midi a[href]", state="attached", timeout=60_000)
        href = page.locator("#generated-midi a[href]").first.get_attribute("href")
        replayed = page.request.get(served(server_url, href)).body()
        address = page.evaluate("location.search")
        page.locator("#copy-link").click()
        page.wait_for_function("document.querySelector('#copy-link').textContent.includes('Link copied')",
                               timeout=5_000)
        copied = page.evaluate("navigator.clipboard.readText()")
    assert replayed == Path(midi_path).read_bytes()
    assert address == f"?{query}", "the replayed result carries the same settings"
    assert copied == f"{server_url}?{query}", "Copy link copies the result's address"


def test_an_address_that_cannot_be_replayed_says_why_and_leaves_the_controls_usable(server_url):
    query = ("bundle=x&bars=8&seed=1&sampler=Fast&steps=&model=Diffusion&instrument=Flute&tempo=120&style=folk"
             "&guidance=2&phrasing=maybe")
    with chromium_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(f"{server_url}?{query}")
        page.wait_for_function("document.body.innerText.includes(\"phrasing must be true or false, got 'maybe'\")",
                               timeout=30_000)
        page.locator("#generate").click()
        page.wait_for_selector("#generated-roll .roll-note", state="attached", timeout=60_000)


def test_on_a_phone_generate_is_in_view_and_the_result_is_scrolled_to(server_url):
    with chromium_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True) as page:
        page.goto(server_url)
        button = page.locator("#generate").bounding_box()
        assert 0 <= button["y"] and button["y"] + button["height"] <= 844, "Generate is on the first screen"
        page.locator("#generate").click()
        page.wait_for_selector("#generated-roll .roll-note", state="attached", timeout=60_000)
        page.wait_for_function("Math.abs(document.querySelector('#generated-roll').getBoundingClientRect().top) < 200",
                               timeout=10_000)


def test_infill_this_melody_before_any_generation_says_so_on_the_page(server_url):
    with chromium_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(server_url)
        page.locator("#infill-this").click()
        page.wait_for_selector("text=Generate a melody first", timeout=15_000)


def test_stop_cancels_a_running_generation_and_the_next_one_still_comes(server_url):
    with chromium_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(server_url)
        page.locator("#generate-advanced").click()
        page.get_by_label(SAMPLERS[1]).check()  # the 1000-step DDPM: seconds of work
        page.locator("#generate").click()
        time.sleep(0.5)
        page.locator("#stop").click()
        time.sleep(6)
        cancelled = page.locator("#generated-roll .roll-note").count()
        page.get_by_role("radio", name=SAMPLERS[0]).first.check()
        page.locator("#generate").click()
        page.wait_for_selector("#generated-roll .roll-note", state="attached", timeout=60_000)
    assert cancelled == 0, "the stopped run never reaches the page"


def test_watching_draws_the_estimates_on_the_roll_while_its_progress_bar_counts_the_steps(server_url):
    roll_text = "document.querySelector('#generated-roll').innerText"
    with chromium_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(server_url)
        page.locator("#generate-advanced").click()
        page.get_by_label(SAMPLERS[1]).check()
        page.locator("#watch input").check()
        page.locator("#generate").click()
        # An estimate and the next progress message reach the page separately: wait for a moment that shows both.
        during = page.wait_for_function(
            f"(() => {{ const text = {roll_text}; return text.includes('denoising: the melody as estimated after step')"
            " && text.includes('Sampling: step') && text; })()", timeout=60_000).json_value()
        page.locator("#stop").click()
    assert "Sampling: step" in during and "of 1000" in during, "the one progress bar, on the roll, counts the steps"
    assert during.count("denoising") == 1 and "of 1000" in during.split("denoising")[1]


NOTES_OUTSIDE = """([first, last]) => [...document.querySelectorAll('#infill-roll .roll-note')]
    .map(note => [Number(note.getAttribute('x')), Number(note.dataset.pitch), Number(note.getAttribute('width'))])
    .filter(([x]) => x < first || x >= last)"""


def test_dragging_bars_17_to_24_on_the_infill_roll_regenerates_them_and_keeps_every_other_bar(server_url):
    bar = 16 * PIXELS_PER_STEP
    with chromium_page(viewport={"width": 1400, "height": 1100}) as page:
        page.goto(server_url)
        page.get_by_role("tab", name="Infill").click()
        page.wait_for_selector("#infill-roll .roll-note", state="attached", timeout=60_000)
        page.evaluate(f"document.querySelector('#infill-roll .roll-scroll').scrollLeft = {15 * bar}")
        before = page.evaluate(NOTES_OUTSIDE, [16 * bar, 24 * bar])
        box = page.locator("#infill-roll .roll-grid").bounding_box()
        page.mouse.move(box["x"] + 16 * bar + 10, box["y"] + 8)  # bar 17, on the bar numbers
        page.mouse.down()
        page.mouse.move(box["x"] + 23 * bar + 10, box["y"] + 8, steps=6)  # bar 24
        page.mouse.up()
        page.wait_for_function("document.querySelector('#infill-bars textarea').value === '17-24'", timeout=10_000)
        page.locator("#infill").click()
        page.wait_for_selector("#infill-roll .roll-shaded", state="attached", timeout=60_000)
        shaded = page.locator("#infill-roll .roll-shaded")
        assert shaded.count() == 1
        assert [float(shaded.get_attribute(name)) for name in ("x", "width")] == [16 * bar, 8 * bar]
        after = page.evaluate(NOTES_OUTSIDE, [16 * bar, 24 * bar])
    assert len(before) > 100 and after == before, "every note outside bars 17-24 is where it was"


ROLL_NOTES = """() => [...document.querySelectorAll('#infill-roll .roll-note')]
    .map(note => [Number(note.getAttribute('x')), Number(note.dataset.pitch), Number(note.getAttribute('width'))])"""


def test_infill_then_keep_editing_builds_on_the_result_and_back_returns_it_byte_for_byte(server_url):
    bar = 16 * PIXELS_PER_STEP

    def split(notes: list, first: int, last: int) -> tuple[list, list]:
        """(the notes starting in bars first..last, the others), each as (start, pitch): a kept note
        held up to a regenerated bar may end where the new bar's first note starts"""
        onsets = [(x, pitch) for x, pitch, _width in notes]
        inside = [note for note in onsets if (first - 1) * bar <= note[0] < last * bar]
        return inside, [note for note in onsets if note not in inside]

    def shaded(page, count: int) -> None:
        page.wait_for_function(f"document.querySelectorAll('#infill-roll .roll-shaded').length === {count}",
                               timeout=180_000)

    def midi_link(page, other_than: str | None = None, equal_to: str | None = None) -> str:
        """The MIDI download's address, once it is not `other_than` (or is `equal_to`)."""
        test = f"h !== {json.dumps(other_than)}" if equal_to is None else f"h === {json.dumps(equal_to)}"
        page.wait_for_function(f"(() => {{ const a = document.querySelector('#infill-midi a[href]'); "
                               f"const h = a && a.getAttribute('href'); return h && {test}; }})()", timeout=180_000)
        return page.locator("#infill-midi a[href]").first.get_attribute("href")

    with chromium_page(viewport={"width": 1400, "height": 1100}) as page:
        page.goto(server_url)
        page.get_by_role("tab", name="Infill").click()
        page.wait_for_selector("#infill-roll .roll-note", state="attached", timeout=60_000)
        original = page.evaluate(ROLL_NOTES)
        page.locator("#infill").click()  # bars 9-16, the default
        shaded(page, 1)
        first_href = midi_link(page)
        first = page.evaluate(ROLL_NOTES)
        first_midi = page.request.get(served(server_url, first_href)).body()
        page.get_by_label("Latest result (keep editing)").check()
        page.wait_for_function("!document.querySelector('#infill-midi a[href]')", timeout=30_000)  # files cleared
        page.locator("#infill-bars textarea").fill("1-4")
        page.locator("#infill").click()
        shaded(page, 2)  # bars 1-4 and 9-16: every bar regenerated so far
        midi_link(page, other_than=first_href)
        second = page.evaluate(ROLL_NOTES)
        page.locator("#infill-back").click()
        shaded(page, 1)
        back_midi = page.request.get(served(server_url, midi_link(page, equal_to=first_href))).body()
    new_first, kept_first = split(first, 9, 16)
    assert new_first != split(original, 9, 16)[0] and kept_first == split(original, 9, 16)[1]
    new_second, kept_second = split(second, 1, 4)
    assert new_second != split(first, 1, 4)[0] and kept_second == split(first, 1, 4)[1], "built on the first result"
    assert back_midi == first_midi, "back returns the first result's MIDI byte for byte"


def test_direct_posts_around_the_queue_are_refused_private_handlers_included(server_url):
    for name in ("generate", "generate_live", "variations", "infill", "continue", "generate_long", "listen", "quick_evaluation"):
        response = httpx.post(f"{server_url}gradio_api/run/{name}", json={"data": []}, timeout=30)
        assert response.status_code == 404 and "join the queue" in response.text, name


def test_every_heavy_handler_counts_against_one_global_concurrency_limit():
    groups = {fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in build_app().fns.values()}
    heavy = {"generate_melodies", "generate_live", "variations_and_baseline", "infill_melody", "continue_melody", "generate_long",
             "play_preview", "play_infill", "show_source", "describe_and_render", "quick_evaluation",
             "rerender_result", "upload_lines"}
    assert {groups[name] for name in heavy} == {(HEAVY_WORK["concurrency_id"], HEAVY_CONCURRENCY)}
    assert all(groups[name][0] != HEAVY_WORK["concurrency_id"] for name in set(groups) - heavy), \
        "light handlers (random seed, committed charts) never wait behind sampling"


def slow_infill(client: Client, song: Path, seed: int) -> Job:
    """A 1000-step DDPM infill: seconds of work that keep a heavy slot or a queue place taken."""
    return client.submit(midi=handle_file(str(song)), source="Uploaded MIDI", bars="3-4", seed=seed,
                         sampler=SAMPLERS[1], api_name="/infill")


def wait_until_joined(jobs: list[Job]) -> None:
    for job in jobs:
        while job.status().code in (Status.STARTING, Status.JOINING_QUEUE):
            time.sleep(0.02)


def test_one_address_may_hold_three_heavy_requests_while_other_addresses_still_get_in(server_url, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setenv(TRUST_FORWARDED_ENV, "1")
    song = tmp_path / "song.mid"
    song.write_bytes(two_instrument_song())
    greedy = Client(server_url, verbose=False, headers={"X-Forwarded-For": "203.0.113.7"})
    jobs = [slow_infill(greedy, song, seed) for seed in range(MAX_HEAVY_PER_CLIENT)]
    wait_until_joined(jobs)
    with pytest.raises(ValidationError, match="You already have requests waiting or running"):
        greedy.predict(bars=4, seed=0, api_name="/generate")  # the app's reason, not gradio_client's "Queue is full"
    other = Client(server_url, verbose=False, headers={"X-Forwarded-For": "198.51.100.2"})
    _roll, midi_path, *_ = other.predict(bars=4, seed=0, api_name="/generate")
    assert bars_of(midi_path) == pytest.approx(4)
    assert not jobs[-1].done(), "the quick lane: a cheap Generate never waits behind the heavy requests queued first"
    assert all(bars_of(job.result()[1]) == pytest.approx(4) for job in jobs)


def test_a_full_queue_answers_busy_and_a_bad_request_is_refused_before_it_joins_a_batch(served_app, tmp_path,
                                                                                        monkeypatch):
    app, server_url = served_app
    monkeypatch.setenv(TRUST_FORWARDED_ENV, "1")
    monkeypatch.setattr(app._queue, "max_size", 1)
    song = tmp_path / "song.mid"
    song.write_bytes(two_instrument_song())
    users = [Client(server_url, verbose=False, headers={"X-Forwarded-For": f"192.0.2.{n}"}) for n in range(1, 5)]
    jobs = []
    for user, seed in zip(users, range(3)):  # two run, one waits: the queue (of one place) is full
        jobs.append(slow_infill(user, song, seed))
        wait_until_joined(jobs)
    response = httpx.post(f"{server_url}gradio_api/queue/join", timeout=30,
                          json={"data": [4, 0], "fn_index": generate_fn_index(app), "session_hash": "x" * 10})
    assert response.status_code == 503 and response.json()["detail"] == BUSY_MESSAGE
    monkeypatch.setattr(app._queue, "max_size", QUEUE_SIZE)
    response = httpx.post(f"{server_url}gradio_api/queue/join", timeout=30,
                          json={"data": [5, 0], "fn_index": generate_fn_index(app), "session_hash": "y" * 10})
    assert response.status_code == 400 and "Bars must be an even number" in response.json()["detail"]
    assert all(bars_of(job.result()[1]) == pytest.approx(4) for job in jobs)


def generate_fn_index(app) -> int:
    return next(index for index, fn in app.fns.items() if fn.api_name == "generate")


def test_a_track_name_that_is_markup_shows_as_text_in_the_listen_table_and_runs_nothing(server_url, tmp_path):
    name = '<img src=x onerror="scriptRan=1">'  # short enough for a table cell (MAX_CELL_CHARS)
    song = tmp_path / "named.mid"
    song.write_bytes(midi_bytes([instrument([note(0, 4, 72), note(4, 8, 74)], program=73, name=name)]))
    with chromium_page(viewport={"width": 1400, "height": 1100}) as page:
        page.goto(server_url)
        page.get_by_role("tab", name="Listen").click()
        page.locator("#listen-file input[type=file]").set_input_files(str(song))
        page.locator("#listen-play").click()
        page.wait_for_selector("#listen-lines td", state="attached", timeout=120_000)
        cells = page.locator("#listen-lines td").all_inner_texts()
        images = page.locator("#listen-lines img").count()
        ran = page.evaluate("window.scriptRan === 1")
    assert name in cells, "the name is shown as the text it is"
    assert images == 0 and not ran
