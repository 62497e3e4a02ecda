"""The "Infill" tab: keep a melody's other bars and regenerate the chosen ones.

The melody comes from the last generation, an uploaded MIDI file (melody lines extracted
as in the data pipeline) or a bundled corpus example. Diffusion infilling can be compared
with the paper's baselines (spherical interpolation, the prior) with one click.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from core.limits import MAX_SEED, MAX_TEMPO_BPM, MIN_TEMPO_BPM
from core.pipeline import DEFAULT_GUIDANCE, DEFAULT_STYLE, InfillRequest, parse_bar_ranges
from core.samplers import default_steps
from demo.audition import GM_PROGRAMS, uploaded_melody_lines
from demo.generate_tab import program_for
from demo.outputs import (
    HEAVY_WORK,
    SAMPLERS,
    checked_tempo,
    melody_audio,
    progress_reporter,
    publish,
    sampler_choice,
    shared_pipeline,
    style_choice,
    style_inputs,
    whole_number,
)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES = {path.stem.replace("_", " "): path for path in sorted(EXAMPLES_DIR.glob("*.mid"))}
SOURCES = ["Uploaded MIDI", "Bundled example", "Last generation"]
METHODS = {"Diffusion": "diffusion", "Interpolation (baseline)": "interpolation", "Prior (baseline)": "prior"}


def melody_from_file(path: str | None, line: int) -> np.ndarray:
    """(T,) tokens of the chosen melody line of a MIDI file, or a gr.Error that says what is wrong."""
    return uploaded_melody_lines(path, line)[line - 1].melody


def source_melody(source: str, midi: str | None, example: str, line: int, last: np.ndarray | None) -> np.ndarray:
    if source == "Last generation":
        if last is None:
            raise gr.Error("Nothing has been generated in this session yet: generate a melody first, "
                           "or pick another melody source.")
        return np.asarray(last, dtype=np.int8)
    if source == "Bundled example":
        if example not in EXAMPLES:
            raise gr.Error(f"Unknown example {example!r}; choose one of: {', '.join(EXAMPLES)}.")
        return melody_from_file(str(EXAMPLES[example]), 1)
    if source == "Uploaded MIDI":
        return melody_from_file(midi, line)
    raise gr.Error(f"Unknown melody source {source!r}; choose one of: {', '.join(SOURCES)}.")


def infill_melody(midi: str | None = None, bars: str = "9-16", seed: float = 0, source: str = SOURCES[0],
                  example: str = next(iter(EXAMPLES), ""), line: float = 1, method: str = "Diffusion",
                  sampler: str = SAMPLERS[0], steps: float | None = None, instrument: str = "Acoustic Grand Piano",
                  tempo: float = 120, last_melody: np.ndarray | None = None, style: str = DEFAULT_STYLE,
                  guidance: float = DEFAULT_GUIDANCE, progress=gr.Progress()):
    """Returns (original audio, result audio, piano roll with regenerated bars shaded, MIDI path, audio path)."""
    melody = source_melody(source, midi, example, whole_number(line, "Melody line", 1, 128), last_melody)
    seed_value = whole_number(seed, "Seed", 0, MAX_SEED)
    sampler_name, steps_value = sampler_choice(sampler, steps)
    if method not in METHODS:
        raise gr.Error(f"Unknown method {method!r}; choose one of: {', '.join(METHODS)}.")
    program, tempo_bpm = program_for(instrument), checked_tempo(tempo)
    try:
        request = InfillRequest(melody=melody, bars_to_regenerate=tuple(parse_bar_ranges(bars or "")),
                                seeds=(seed_value,), method=METHODS[method], sampler=sampler_name, steps=steps_value,
                                tempo_bpm=tempo_bpm, program=program, **style_choice(style, guidance))
        result = shared_pipeline().infill(request, progress_reporter(progress, "infilling"))[0]
    except ValueError as error:
        raise gr.Error(str(error)) from error
    audio, figure, midi_path, audio_path = publish(
        result, f"infill-{seed_value}", f"bars {bars} regenerated ({method.split(' ')[0].lower()}), shaded",
        highlight=True)
    return melody_audio(melody, tempo_bpm, program), audio, figure, midi_path, audio_path


def build_infill_tab(last_melody: gr.State) -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context."""
    with gr.Row():
        with gr.Column(scale=1):
            source = gr.Radio(SOURCES, value=SOURCES[0], label="Melody to work on")
            midi = gr.File(label="MIDI file (for 'Uploaded MIDI')", file_types=[".mid", ".midi"], type="filepath")
            line = gr.Number(value=1, precision=0, minimum=1, label="Melody line of the file")
            example = gr.Dropdown(list(EXAMPLES), value=next(iter(EXAMPLES), None), label="Bundled example")
            bars = gr.Textbox(value="9-16", label="Bars to regenerate (1-based, e.g. 17-48 or 5-8, 17-24)")
            method = gr.Radio(list(METHODS), value="Diffusion", label="Method (the baselines are the paper's)")
            style, guidance = style_inputs()
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                steps = gr.Slider(5, 200, value=default_steps("fast", shared_pipeline().schedule), step=1,
                                      label="Fast sampler steps (DPM-Solver++)")
            sampler = gr.Radio(SAMPLERS, value=SAMPLERS[0], label="Sampler")
            instrument = gr.Dropdown(list(GM_PROGRAMS), value="Acoustic Grand Piano", label="Instrument")
            tempo = gr.Slider(MIN_TEMPO_BPM, MAX_TEMPO_BPM, value=120, step=1, label="Tempo (BPM)")
            go_button = gr.Button("Infill", variant="primary", elem_id="infill")
        with gr.Column(scale=2):
            with gr.Row():
                original_audio = gr.Audio(label="Original", type="filepath", interactive=False)
                result_audio = gr.Audio(label="Infilled", type="filepath", interactive=False)
            roll = gr.Plot(label="Piano roll (regenerated bars shaded)")
            with gr.Row():
                midi_file = gr.File(label="MIDI")
                audio_file = gr.File(label="Audio (Ogg Vorbis)")
    go_button.click(infill_melody,
                    [midi, bars, seed, source, example, line, method, sampler, steps, instrument, tempo, last_melody,
                     style, guidance],
                    [original_audio, result_audio, roll, midi_file, audio_file], api_name="infill", **HEAVY_WORK)
    first_example = next(iter(EXAMPLES), None)
    if first_example is not None:
        gr.Examples([["Bundled example", first_example, "17-32", method_name, 0]
                     for method_name in METHODS], [source, example, bars, method, seed])
