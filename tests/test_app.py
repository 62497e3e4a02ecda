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


def test_generate_tab_returns_audio_piano_roll_and_downloads():
    from demo.generate_tab import diffusion_available, generate_melody

    assert diffusion_available(), "the committed demo model includes the diffusion network"
    audio, figure, midi_path, wav_path = generate_melody(8, 3, "Fast (DDIM)", 5, "Diffusion", "Flute", 120,
                                                         progress=lambda *args, **kwargs: None)
    rate, samples = audio
    assert rate == 44_100 and samples.dtype.name == "int16"
    assert rate < samples.size <= 17 * rate, "8 bars at 120 BPM last 16 s, plus the release tail"
    assert figure.layout.xaxis.range == (1, 9)
    assert midi_path.endswith(".mid") and wav_path.endswith(".wav")
    with pytest.raises(gr.Error, match="positive even number"):
        generate_melody(7, 0, "Fast (DDIM)", 5, "Diffusion", "Flute", 120, progress=lambda *a, **k: None)
