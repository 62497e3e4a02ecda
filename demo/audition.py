"""The "Listen" tab: upload a MIDI file, see and hear the melody lines the data pipeline extracts.

Every model here learnt from single melody lines; this tab shows which lines a file holds
once reduced the way the training data was (one note at a time, the highest wins, on a
sixteenth-note grid) and plays the chosen one on the piano roll. /listen is also how a
script gets the audio of a MIDI file the app made.
"""

from __future__ import annotations

import html

import gradio as gr
import pretty_midi

from core.constants import STEPS_PER_BAR
from core.limits import MAX_TEMPO_BPM, MIN_TEMPO_BPM
from core.melody import pitch_range
from core.midi_io import ExtractedMelody, MidiInputError
from core.upload_reader import read_melody_lines
from demo.outputs import HEAVY_WORK, melody_audio, shown
from demo.roll_player import RollPlayer, note_name, roll_value, with_audio

MAX_LISTED_LINES = 40  # melody lines listed in the table (a file may hold over a thousand)
MAX_CELL_CHARS = 40  # characters of a track name shown
MARKDOWN_MARKS = set("\\`*_{}[]()#+-.!|<>~")
GM_PROGRAMS = {"Acoustic Grand Piano": 0, "Vibraphone": 11, "Church Organ": 19, "Nylon Guitar": 24,
               "Violin": 40, "String Ensemble": 48, "Trumpet": 56, "Alto Sax": 65, "Oboe": 68,
               "Flute": 73, "Lead (square)": 80}


def markdown_cell(text: str) -> str:
    """Text from a file shown as plain text in a Markdown table cell: at most MAX_CELL_CHARS
    characters, HTML escaped, and Markdown's own marks (table bars, emphasis, links, code)
    backslash-escaped, so that a track name can never become markup or script."""
    text = " ".join(str(text).split())
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    text = html.escape(text, quote=True)
    return "".join(f"\\{character}" if character in MARKDOWN_MARKS else character for character in text)


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


def describe_and_render(midi_path: str | None, program_name: str = "Acoustic Grand Piano", tempo_bpm: float = 120,
                        line: int = 1):
    """Extract the melody lines of an uploaded file and render one of them.

    Returns (markdown table of the lines, RollPlayer value of the chosen line playing its audio,
    the audio's path for download).
    """
    if program_name not in GM_PROGRAMS:
        raise gr.Error(f"Unknown instrument {shown(program_name)}; choose one of: {', '.join(GM_PROGRAMS)}.")
    melodies = uploaded_melody_lines(midi_path, line)
    rows = ["| Line | Track | Instrument | Bars | Range |", "|---|---|---|---|---|"]
    for number, melody in enumerate(melodies[:MAX_LISTED_LINES], start=1):
        low, high = pitch_range(melody.melody)
        bars = melody.melody.size // STEPS_PER_BAR
        instrument = pretty_midi.program_to_instrument_name(melody.program)
        rows.append(f"| {number} | {markdown_cell(melody.name or '(none)')} | {instrument} | {bars} | "
                    f"{note_name(low)} to {note_name(high)} |")
    if len(melodies) > MAX_LISTED_LINES:
        rows.append(f"\n{len(melodies) - MAX_LISTED_LINES} more lines not listed (choose them by number, up to "
                    f"{len(melodies)}).")
    chosen = melodies[line - 1].melody
    audio_path = melody_audio(chosen, tempo_bpm, GM_PROGRAMS[program_name])
    roll = roll_value(chosen, tempo_bpm, title=f"line {line}, as the models would hear it")
    return "\n".join(rows), with_audio(roll, audio_path), audio_path


def build_listen_tab() -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context."""
    gr.Markdown("Upload a MIDI file to see the melody lines the models would take from it (one note at a time, "
                "on a sixteenth-note grid) and hear the one you choose. Infill uses the same lines.")
    with gr.Row():
        with gr.Column():
            midi_file = gr.File(label="MIDI file", file_types=[".mid", ".midi"], type="filepath")
            program = gr.Dropdown(list(GM_PROGRAMS), value="Acoustic Grand Piano", label="Instrument")
            tempo = gr.Slider(MIN_TEMPO_BPM, MAX_TEMPO_BPM, value=120, step=1, label="Tempo (BPM)")
            line = gr.Number(value=1, precision=0, minimum=1, label="Melody line to play")
            play = gr.Button("Extract and play", variant="primary")
        with gr.Column(scale=2):
            table = gr.Markdown()
            roll = RollPlayer(elem_id="listen-roll")
            audio_file = gr.File(label="Audio (Ogg Vorbis)")
    play.click(describe_and_render, [midi_file, program, tempo, line], [table, roll, audio_file], api_name="listen",
               **HEAVY_WORK)
