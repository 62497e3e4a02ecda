"""Specification of the piano roll player (demo.roll_player): its value, and in headless Chromium its
drawing, its playhead and the bars dragged across on it."""

import shutil
import time

import gradio as gr
import numpy as np
import pytest

from core.music.melody import melody_from_notes
from demo.infill_tab import select_bars
from demo.loadtest import free_local_port
from demo.outputs import melody_audio
from demo.roll_player import RollPlayer, form_sections, note_name, roll_value, selected_bars, with_audio

pytestmark = pytest.mark.slow  # drives the piano roll in a headless browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_the_value_lists_notes_in_sixteenths_with_the_pitch_range_and_the_tempo():
    melody = melody_from_notes([0, 16, 40], [16, 24, 64], [60, 64, 67])
    value = roll_value(melody, tempo_bpm=90, title="three notes")
    assert value["notes"] == [[0, 16, 60], [16, 24, 64], [40, 64, 67]]
    assert value["bars"] == 4 and value["steps_per_bar"] == 16
    assert (value["low"], value["high"]) == (58, 69), "two semitones of room on either side"
    assert value["seconds_per_step"] == pytest.approx(60 / 90 / 4)
    assert value["ghost"] == value["shaded"] == [] and value["selection"] is None and value["audio_url"] is None


def test_the_form_a_melody_was_sampled_with_marks_its_8_bar_sections_with_their_letters():
    aabb = (0, 0, 0, 0, 0, 4, 4, 4, 0, 0, 0, 0, 0, 4, 4, 4)  # 32 bars: A A B B
    assert form_sections(aabb) == [[1, 8, "A"], [9, 16, "A"], [17, 24, "B"], [25, 32, "B"]]
    assert form_sections((0, 0, 0, 0, 0, 4)) == [[1, 8, "A"], [9, 12, "A"]], "a last section cut short"
    assert form_sections((0,) * 16) == [], "a free form marks nothing"
    value = roll_value(np.zeros(32 * 16, np.int8), sections=form_sections(aabb))
    assert [letter for *_, letter in value["sections"]] == list("AABB")


def test_regenerated_latents_are_shaded_over_the_notes_they_replaced():
    original = melody_from_notes([0, 32, 64, 96], [8, 40, 72, 104], [60, 62, 64, 65])  # one note per 2 bars
    result = melody_from_notes([0, 36, 64, 100], [8, 44, 72, 108], [60, 71, 64, 72])
    value = roll_value(result, regenerated=np.array([False, True, False, True]), original=original)
    assert value["shaded"] == [[3, 4], [7, 8]]
    assert value["ghost"] == [[32, 40, 62], [96, 104, 65]], "the replaced notes of bars 3-4 and 7-8 only"
    merged = roll_value(result, regenerated=np.array([False, True, True, False]))
    assert merged["shaded"] == [[3, 6]], "adjacent latents make one range"


def test_only_a_drag_sets_the_bars_and_typed_bars_select_their_span():
    value = roll_value(np.zeros(16 * 16, np.int8))
    assert selected_bars({**value, "selection": [17, 24], "dragged": True}) == "17-24"
    assert selected_bars({**value, "selection": [17, 24], "dragged": False}) is None, "a redraw from Python"
    assert selected_bars(value) is None and selected_bars(None) is None
    assert select_bars(value, "5-8, 11-12")["selection"] == [5, 12]
    assert select_bars(value, "9-40")["selection"] == [9, 16], "clipped to the melody"
    assert select_bars(value, "nonsense")["selection"] is None


def test_the_player_plays_a_file_of_gradios_cache_by_its_url_and_names_pitches():
    value = with_audio(roll_value(np.zeros(32, np.int8)), "/tmp/gradio/x y/melody.ogg")
    assert value["audio_url"] == "gradio_api/file=/tmp/gradio/x%20y/melody.ogg"
    assert with_audio(None, "/tmp/a.ogg") is None
    assert [note_name(p) for p in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]


def shaded_result() -> dict:
    """32 bars of one note per bar, bars 17-24 regenerated."""
    melody = melody_from_notes(np.arange(0, 512, 16), np.arange(8, 520, 16), np.full(32, 67))
    return roll_value(melody, 120, regenerated=np.arange(16) // 4 == 2, title="bars 17-24 regenerated")


@pytest.fixture(scope="module")
def page_with_a_roll():
    """A page holding one selectable RollPlayer, filled with 8 bars and their audio by a button."""
    from playwright.sync_api import sync_playwright

    melody = melody_from_notes(np.arange(0, 128, 4), np.arange(3, 131, 4), 60 + np.arange(32) % 12)

    def fill():
        return with_audio(roll_value(melody, 120, title="eight bars"), melody_audio(melody, 120, 0))

    with gr.Blocks() as app:
        roll = RollPlayer(selectable=True, elem_id="roll")
        bars = gr.Textbox(elem_id="bars")
        gr.Button("fill", elem_id="fill").click(fill, None, roll)
        gr.Button("shade", elem_id="shade").click(shaded_result, None, roll)
        roll.change(lambda value: selected_bars(value) or gr.skip(), roll, bars)
    port = free_local_port()
    app.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator("#fill").click()
        page.wait_for_selector("#roll .roll-audio audio[src]", state="attached", timeout=60_000)
        yield page
        browser.close()
    app.close()


def test_the_roll_draws_every_note_with_named_natural_rows(page_with_a_roll):
    page = page_with_a_roll
    assert page.locator("#roll .roll-note").count() == 32
    labels = page.eval_on_selector_all("#roll .roll-keys text", "texts => texts.map(text => text.textContent)")
    assert "C4" in labels and not any("#" in label for label in labels)
    width = float(page.locator("#roll .roll-grid").get_attribute("width"))
    assert width == 8 * 16 * 5, "5 px per sixteenth at the default zoom"


def test_the_playhead_moves_while_the_audio_plays(page_with_a_roll):
    page = page_with_a_roll
    page.evaluate("() => { document.querySelector('#roll .roll-audio audio').play(); }")
    time.sleep(1.0)
    first = float(page.locator("#roll .roll-playhead").get_attribute("data-x") or 0)
    time.sleep(1.0)
    second = float(page.locator("#roll .roll-playhead").get_attribute("data-x") or 0)
    page.evaluate("() => { document.querySelector('#roll .roll-audio audio').pause(); }")
    assert 0 < first < second, "the playhead advances with the audio (1 s = 8 sixteenths = 40 px at 120 BPM)"
    assert second - first == pytest.approx(40, abs=15)


def test_dragging_across_the_bar_numbers_selects_whole_latents(page_with_a_roll):
    page = page_with_a_roll
    box = page.locator("#roll .roll-grid").bounding_box()
    bar = 16 * 5
    page.mouse.move(box["x"] + 2 * bar + 10, box["y"] + 8)  # bar 3, on the ruler
    page.mouse.down()
    page.mouse.move(box["x"] + 4 * bar + 10, box["y"] + 8, steps=4)  # bar 5
    page.mouse.up()
    page.wait_for_function("document.querySelector('#bars textarea').value !== ''", timeout=10_000)
    assert page.locator("#bars textarea").input_value() == "3-6", "bars 3-5 widened to the 2-bar latents 3-6"
    assert page.locator("#roll .roll-selection").count() == 1


def test_a_new_result_scrolls_its_regenerated_bars_into_view_whole(page_with_a_roll):
    page = page_with_a_roll
    page.locator("#shade").click()
    page.wait_for_selector("#roll .roll-shaded", state="attached", timeout=30_000)
    left, width = page.evaluate("(() => { const box = document.querySelector('#roll .roll-scroll');"
                                " return [box.scrollLeft, box.clientWidth]; })()")
    bar = 16 * 5
    assert width < 24 * bar, "the roll is narrower than the melody"
    assert left <= 16 * bar and left + width >= 24 * bar, "bars 17-24 are on screen, all of them"
