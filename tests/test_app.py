"""Specification of the app's Listen tab callback and that the app builds."""

import gradio as gr
import pytest

from app import build_app
from demo.audition import describe_and_render
from tests.midi_factory import instrument, midi_bytes, note, two_instrument_song


def test_app_builds_with_its_tabs():
    assert isinstance(build_app(), gr.Blocks)


def test_uploaded_song_lists_its_lines_and_plays_the_chosen_one(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(two_instrument_song())
    table, (rate, samples) = describe_and_render(str(path), "Flute", 120, 2)
    assert "| 1 | lead | 73 | 4 | 71-79 |" in table
    assert "| 2 | bass | 0 | 2 | 43-48 |" in table
    assert rate == 44_100 and samples.size == round((4.0 + 1.0) * rate)  # 2 bars at 120 BPM + tail
    assert abs(samples).max() > 10_000


@pytest.mark.parametrize(
    "content, line, message",
    [
        (b"garbage", 1, "not a Standard MIDI File"),
        (midi_bytes([instrument([note(0, 1, 36)], is_drum=True)]), 1, "no pitched notes"),
        (midi_bytes([instrument([note(0, 4, 60)])], meter=(3, 4)), 1, "time signature 3/4"),
        (two_instrument_song(), 3, "lines 1..2"),
    ],
)
def test_unusable_uploads_raise_a_clear_message(tmp_path, content, line, message):
    path = tmp_path / "upload.mid"
    path.write_bytes(content)
    with pytest.raises(gr.Error, match=message):
        describe_and_render(str(path), "Flute", 120, line)
