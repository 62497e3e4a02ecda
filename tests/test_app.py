"""Specification of the app's tab callbacks (called directly, without a server) and that the app builds."""

import gradio as gr
import numpy as np
import pretty_midi
import pytest
import soundfile
import torch

from demo.blocks import build_app
from core.melody import pitch_to_token
from core.midi_io import extract_melodies
from demo.audition import describe_and_render
from tests.midi_factory import instrument, midi_bytes, note, two_instrument_song


def test_app_builds_with_its_tabs():
    assert isinstance(build_app(), gr.Blocks)


def test_uploaded_song_lists_its_lines_and_plays_the_chosen_one(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(two_instrument_song())
    table, audio_path = describe_and_render(str(path), "Flute", 120, 2)
    assert "| 1 | lead | 73 | 4 | 71-79 |" in table
    assert "| 2 | bass | 0 | 2 | 43-48 |" in table
    samples, rate = soundfile.read(audio_path)
    assert audio_path.endswith(".ogg") and rate == 44_100
    assert samples.size == round((4.0 + 1.0) * rate)  # 2 bars at 120 BPM + tail
    assert abs(samples).max() > 0.3


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


NO_PROGRESS = lambda *args, **kwargs: None  # noqa: E731


def seconds_to_bars(seconds: float, tempo_bpm: float = 120) -> float:
    return seconds / (4 * 60 / tempo_bpm)


def test_generate_tab_returns_audio_piano_roll_downloads_and_the_melody():
    from demo.generate_tab import generate_melody

    outputs = list(generate_melody(8, 3, "Fast", 5, "Diffusion", "Flute", 120, False, progress=NO_PROGRESS))
    assert len(outputs) == 1
    audio_path, figure, midi_path, download_path, melody = outputs[0]
    samples, rate = soundfile.read(audio_path)
    assert rate == 44_100 and audio_path == download_path
    assert 16 * rate <= samples.size <= 17 * rate, "8 bars at 120 BPM last 16 s, plus the release tail"
    assert figure.layout.xaxis.range == (1, 9)
    assert seconds_to_bars(pretty_midi.PrettyMIDI(midi_path).get_end_time()) == pytest.approx(8)
    assert audio_path.endswith(".ogg") and melody.shape == (8 * 16,)


def test_watching_the_reverse_process_yields_intermediate_piano_rolls_first():
    from demo import generate_tab
    from demo.generate_tab import generate_melody

    generate_tab.WATCH_FRAME_S = 0.0
    outputs = list(generate_melody(8, 3, "Fast", 10, "Diffusion", "Flute", 120, True, progress=NO_PROGRESS))
    assert len(outputs) == 11, "x0 estimates every step of 10, then the final result"
    assert all(isinstance(o[0], type(gr.skip())) for o in outputs[:-1])
    assert outputs[0][1].layout.title.text.startswith("denoising")
    assert isinstance(outputs[-1][2], str)


@pytest.mark.parametrize("arguments, message", [
    ((7, 0), "positive even number"), ((8, -1), "Seed must be a whole number"),
    ((8, 0.5), "Seed must be a whole number"), ((8, 0, "Fast", 0), "Steps must be"),
    ((8, 0, "Fast", 5, "Diffusion", "Kazoo"), "Unknown instrument"),
    ((8, 0, "Fast", 5, "Diffusion", "Flute", 1000), "Tempo must lie"),
])
def test_generate_tab_explains_bad_requests(arguments, message):
    from demo.generate_tab import generate_melody

    with pytest.raises(gr.Error, match=message):
        list(generate_melody(*arguments, progress=NO_PROGRESS))


@pytest.mark.parametrize("method", ["Diffusion", "Interpolation (baseline)", "Prior (baseline)"])
def test_infill_tab_regenerates_the_chosen_bars_of_a_bundled_example(method):
    from demo.infill_tab import EXAMPLES, infill_melody, melody_from_file

    name = "nightingale clog"
    original = melody_from_file(str(EXAMPLES[name]), 1)
    before_path, after_path, figure, midi_path, _download = infill_melody(
        None, "5-8, 17-20", 0, "Bundled example", name, 1, method, "Fast", 5, "Flute", 120, None,
        progress=NO_PROGRESS)
    (before, rate), (after, _) = soundfile.read(before_path), soundfile.read(after_path)
    assert before.size == after.size > 30 * rate
    shaded = [(shape.x0, shape.x1) for shape in figure.layout.shapes if shape.type == "rect"]
    assert shaded == [(5, 7), (7, 9), (17, 19), (19, 21)]
    result = extract_melodies(pretty_midi.PrettyMIDI(midi_path))[0].melody
    kept = np.ones(original.size, bool)
    kept[4 * 16:8 * 16] = kept[16 * 16:20 * 16] = False
    assert np.array_equal(result[:original.size][kept][:-32], original[kept][:-32])


def test_infill_tab_uses_the_last_generation_and_explains_missing_sources(tmp_path):
    from demo.infill_tab import infill_melody

    melody = np.zeros(8 * 16, np.int8)
    melody[::16] = pitch_to_token(60)  # a middle C on every downbeat
    outputs = infill_melody(None, "3-4", 0, "Last generation", "", 1, "Diffusion", "Fast", 5, "Flute", 120,
                            melody, progress=NO_PROGRESS)
    assert figure_shaded_bars(outputs[2]) == [(3, 5)]
    with pytest.raises(gr.Error, match="Nothing has been generated"):
        infill_melody(None, "3-4", 0, "Last generation", progress=NO_PROGRESS)
    with pytest.raises(gr.Error, match="Upload a .mid"):
        infill_melody(None, "3-4", 0, "Uploaded MIDI", progress=NO_PROGRESS)
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd garbage")
    with pytest.raises(gr.Error, match="cannot be used"):
        infill_melody(str(corrupt), "3-4", 0, progress=NO_PROGRESS)
    with pytest.raises(gr.Error, match="reach past the melody's 8 bars"):
        infill_melody(None, "3-40", 0, "Last generation", "", 1, last_melody=melody, progress=NO_PROGRESS)


def figure_shaded_bars(figure) -> list[tuple[float, float]]:
    return [(shape.x0, shape.x1) for shape in figure.layout.shapes if shape.type == "rect"]


def test_long_tab_writes_more_bars_than_the_training_length_with_a_similarity_matrix():
    from demo.long_tab import generate_long, latent_self_similarity

    audio, roll, matrix, midi_path, _ = generate_long(132, 2, True, "Flute", 240, progress=NO_PROGRESS)
    assert seconds_to_bars(pretty_midi.PrettyMIDI(midi_path).get_end_time(), 240) == pytest.approx(132)
    similarity = np.asarray(matrix.data[0].z)
    assert similarity.shape == (66, 66) and np.allclose(np.diag(similarity), 1, atol=1e-5)
    assert np.allclose(similarity, similarity.T, atol=1e-6)
    latents = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    assert np.allclose(latent_self_similarity(latents), [[1, 0, -1], [0, 1, 0], [-1, 0, 1]])


def test_evaluation_tab_shows_the_committed_results():
    from demo.eval_tab import committed_figures, result_sets

    assert {"folk_32bars", "renaissance_64bars"} <= set(result_sets())
    unconditional = committed_figures("folk_32bars")[0]
    systems = list(unconditional.data[0].cells.values[0])
    assert {"TransformerMDN", "diffusion DDPM-1000", "prior"} <= set(systems)
    assert "folk, 32 bars" in unconditional.layout.title.text
    assert committed_figures("no such run") == [None] * len(committed_figures("folk_32bars"))


def test_style_strength_is_usable_only_where_it_changes_the_melody():
    from demo.outputs import MODEL_LABELS, strength_control

    assert strength_control("folk", MODEL_LABELS[0])["interactive"] is True
    assert strength_control("any", MODEL_LABELS[0])["interactive"] is False, "no style: nothing to steer"
    assert strength_control("folk", MODEL_LABELS[1])["interactive"] is False, "the MDN takes the label or not"
