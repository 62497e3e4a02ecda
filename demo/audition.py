"""The "Listen" tab: upload a MIDI file, hear the melody lines the data pipeline extracts."""

from __future__ import annotations

import gradio as gr
import numpy as np

from core.audio import DEFAULT_SAMPLE_RATE, render_midi
from core.constants import STEPS_PER_BAR
from core.melody import pitch_range
from core.midi_io import MidiInputError, extract_melodies, load_midi_file, melody_to_pretty_midi

GM_PROGRAMS = {"Acoustic Grand Piano": 0, "Vibraphone": 11, "Church Organ": 19, "Nylon Guitar": 24,
               "Violin": 40, "String Ensemble": 48, "Trumpet": 56, "Alto Sax": 65, "Oboe": 68,
               "Flute": 73, "Lead (square)": 80}


def describe_and_render(midi_path: str | None, program_name: str, tempo_bpm: float, line: int):
    """Extract the melody lines of an uploaded file and render one of them.

    Returns (markdown summary, (sample_rate, samples (N,))) for a Markdown and an Audio widget.
    """
    if not midi_path:
        raise gr.Error("Upload a .mid or .midi file first.")
    try:
        melodies = extract_melodies(load_midi_file(midi_path))
    except MidiInputError as error:
        raise gr.Error(f"This file cannot be used: {error}") from error
    if not melodies:
        raise gr.Error("The file has no pitched notes in MIDI 21..108 (drums only or empty).")
    if not 1 <= line <= len(melodies):
        raise gr.Error(f"Melody line {line} does not exist: the file has lines 1..{len(melodies)}.")
    rows = ["| line | instrument | GM program | bars | pitch range |", "|---|---|---|---|---|"]
    for number, melody in enumerate(melodies, start=1):
        low, high = pitch_range(melody.melody)
        bars = melody.melody.size // STEPS_PER_BAR
        rows.append(f"| {number} | {melody.name or '-'} | {melody.program} | {bars} | {low}-{high} |")
    chosen = melodies[line - 1].melody
    samples = render_midi(melody_to_pretty_midi(chosen, tempo_bpm, GM_PROGRAMS[program_name]))
    return "\n".join(rows), (DEFAULT_SAMPLE_RATE, (samples * 32767).astype(np.int16))


def build_listen_tab() -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context."""
    with gr.Row():
        with gr.Column():
            midi_file = gr.File(label="MIDI file", file_types=[".mid", ".midi"], type="filepath")
            program = gr.Dropdown(list(GM_PROGRAMS), value="Acoustic Grand Piano", label="Instrument")
            tempo = gr.Slider(40, 240, value=120, step=1, label="Tempo (BPM)")
            line = gr.Number(value=1, precision=0, minimum=1, label="Melody line to play")
            play = gr.Button("Extract and play", variant="primary")
        with gr.Column():
            audio = gr.Audio(label="Melody", type="numpy", interactive=False)
            table = gr.Markdown()
    play.click(describe_and_render, [midi_file, program, tempo, line], [table, audio])
