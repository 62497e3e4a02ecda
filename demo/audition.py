"""The "Listen" tab: upload a MIDI file, hear the melody lines the data pipeline extracts."""

from __future__ import annotations

import gradio as gr

from core.constants import STEPS_PER_BAR
from core.limits import MAX_TEMPO_BPM, MIN_TEMPO_BPM
from core.melody import pitch_range
from core.midi_io import ExtractedMelody, MidiInputError
from core.upload_reader import read_melody_lines
from demo.outputs import HEAVY_WORK, melody_audio

GM_PROGRAMS = {"Acoustic Grand Piano": 0, "Vibraphone": 11, "Church Organ": 19, "Nylon Guitar": 24,
               "Violin": 40, "String Ensemble": 48, "Trumpet": 56, "Alto Sax": 65, "Oboe": 68,
               "Flute": 73, "Lead (square)": 80}


def uploaded_melody_lines(midi_path: str | None, line: int) -> list[ExtractedMelody]:
    """The melody lines of an uploaded file, checked that `line` (1-based) exists; gr.Error otherwise."""
    if not midi_path:
        raise gr.Error("Upload a .mid or .midi file first.")
    try:
        melodies = read_melody_lines(midi_path)
    except MidiInputError as error:
        raise gr.Error(f"This file cannot be used: {error}") from error
    except OSError as error:
        raise gr.Error(f"The upload could not be read ({error}); upload it again.") from error
    if not melodies:
        raise gr.Error("The file has no pitched notes in MIDI 21..108 (drums only or empty): no melody to use.")
    if not 1 <= line <= len(melodies):
        raise gr.Error(f"Melody line {line} does not exist: the file has lines 1..{len(melodies)}.")
    return melodies


def describe_and_render(midi_path: str | None, program_name: str, tempo_bpm: float, line: int):
    """Extract the melody lines of an uploaded file and render one of them.

    Returns (markdown summary, (sample_rate, samples (N,))) for a Markdown and an Audio widget.
    """
    melodies = uploaded_melody_lines(midi_path, line)
    rows = ["| line | instrument | GM program | bars | pitch range |", "|---|---|---|---|---|"]
    for number, melody in enumerate(melodies, start=1):
        low, high = pitch_range(melody.melody)
        bars = melody.melody.size // STEPS_PER_BAR
        rows.append(f"| {number} | {melody.name or '-'} | {melody.program} | {bars} | {low}-{high} |")
    return "\n".join(rows), melody_audio(melodies[line - 1].melody, tempo_bpm, GM_PROGRAMS[program_name])


def build_listen_tab() -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context."""
    with gr.Row():
        with gr.Column():
            midi_file = gr.File(label="MIDI file", file_types=[".mid", ".midi"], type="filepath")
            program = gr.Dropdown(list(GM_PROGRAMS), value="Acoustic Grand Piano", label="Instrument")
            tempo = gr.Slider(MIN_TEMPO_BPM, MAX_TEMPO_BPM, value=120, step=1, label="Tempo (BPM)")
            line = gr.Number(value=1, precision=0, minimum=1, label="Melody line to play")
            play = gr.Button("Extract and play", variant="primary")
        with gr.Column():
            audio = gr.Audio(label="Melody", type="filepath", interactive=False)
            table = gr.Markdown()
    play.click(describe_and_render, [midi_file, program, tempo, line], [table, audio], api_name="listen", **HEAVY_WORK)
