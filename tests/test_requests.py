"""Specification of `core.requests`: a request is composed of parts, checks every field once, and a bad
value gets one message whichever way it arrives (Python, the command line, the app's API)."""

import dataclasses

import gradio as gr
import numpy as np
import pytest

from core.cli.generate import main as generate_cli
from core.music.melody import pitch_to_token
from core.requests import (
    GenerationRequest,
    InfillRequest,
    RenderOptions,
    SamplingOptions,
    ShapingOptions,
    continuation,
    replaced,
)
from demo.generate_tab import generate_melodies
from demo.outputs import STYLE_KEY

BAD_VALUES = [  # (flat field, value, the message every way of asking gets)
    ("tempo_bpm", 1000, "Tempo must lie between 20 and 300 BPM, got 1000."),
    ("bars", 7, "Bars must be an even number (2-bar latents) from 2 to 256, got 7."),
    ("style", "jazz", "Style must be one of: chorale, classical, folk, other, renaissance, any; got 'jazz' (text)."),
]
CLI_FLAGS = {"tempo_bpm": "--tempo", "bars": "--bars", "style": "--style"}
API_INPUTS = {"tempo_bpm": "tempo", "bars": "bars", "style": "style"}


def melody_of_bars(bars: int) -> np.ndarray:
    melody = np.zeros(bars * 16, np.int8)
    melody[::8] = pitch_to_token(67)
    return melody


def test_flat_fields_are_sorted_into_the_request_s_parts():
    request = GenerationRequest.of(bars=8, seeds=(3, 4), model="mdn", tempo_bpm=90, program=40, phrasing=False,
                                   key="Eb")
    assert request.sampling == SamplingOptions(seeds=(3, 4), model="mdn")
    assert request.render == RenderOptions(tempo_bpm=90, program=40)
    assert request.shaping == ShapingOptions(phrasing=False)
    assert (request.bars, request.key, request.num_chunks) == (8, "Eb", 4)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        GenerationRequest.of(colour="red")


def test_number_widget_values_are_normalized_once_on_the_way_in():
    request = GenerationRequest.of(bars=8.0, seeds=(2.0,), steps=10.0, tempo_bpm=100, program=40.0, guidance=1)
    assert (request.bars, request.sampling.seeds, request.sampling.steps) == (8, (2,), 10)
    assert type(request.bars) is int and type(request.sampling.seeds[0]) is int and type(request.render.program) is int
    assert request.render.tempo_bpm == 100.0 and request.sampling.guidance == 1.0


def test_an_infill_request_lays_out_its_padded_chunks_and_the_latents_to_regenerate_once():
    request = InfillRequest.of(melody=melody_of_bars(7), bars_to_regenerate=((3, 4), (7, 7)))
    assert request.chunks.shape == (4, 32), "7 bars padded to 4 whole 2-bar latents"
    assert np.array_equal(request.chunks.reshape(-1)[: 7 * 16], melody_of_bars(7))
    assert request.regenerate.tolist() == [False, True, False, True]
    extended = continuation(melody_of_bars(4), 4, seeds=(1,))
    assert extended.chunks.shape == (4, 32) and extended.regenerate.tolist() == [False, False, True, True]
    assert extended.bars_to_regenerate == ((5, 8),) and not extended.chunks[2:].any()


def test_replacing_flat_fields_changes_only_their_part_and_checks_again():
    request = GenerationRequest.of(bars=8, seeds=(1,), tempo_bpm=90)
    changed = replaced(request, seeds=(5, 6), phrasing=False)
    assert changed.sampling.seeds == (5, 6) and changed.shaping.phrasing is False
    assert changed.render == request.render and changed.bars == 8
    assert dataclasses.replace(request.sampling, seeds=(5, 6)) == changed.sampling
    with pytest.raises(ValueError, match="Tempo must lie between 20 and 300 BPM, got 5."):
        replaced(request, tempo_bpm=5)


@pytest.mark.parametrize("name, value, message", BAD_VALUES)
def test_a_bad_value_gets_the_same_message_from_python_the_command_line_and_the_api(name, value, message,
                                                                                   committed_pipeline, tmp_path, capsys):
    with pytest.raises(ValueError) as from_python:
        committed_pipeline.generate(GenerationRequest.of(**{"steps": 1, name: value}))
    assert str(from_python.value) == message

    with pytest.raises(SystemExit):
        generate_cli([CLI_FLAGS[name], str(value), "--steps", "1", "--out", str(tmp_path / "a.mid")])
    assert capsys.readouterr().err.strip().endswith(f"error: {message}")

    inputs = {"bars": 8, "seed": 0, "sampler": "Fast", "steps": 5, "model": "Diffusion", "instrument": "Flute",
              "tempo": 120, "style": "folk", "guidance": 2.0, "phrasing": True, "key": STYLE_KEY,
              "form": "free", API_INPUTS[name]: value}
    with pytest.raises(gr.Error) as from_api:
        generate_melodies(*[[inputs[key]] for key in inputs])
    assert from_api.value.message == message
