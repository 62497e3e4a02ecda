"""The "Listen" tab: upload a MIDI file, see and hear the melody lines the data pipeline extracts.

Every model here learnt from single melody lines; this tab shows which lines a file holds
once reduced the way the training data was (one note at a time, the highest wins, on a
sixteenth-note grid), numbered likeliest tune first (`core.music.melody_lines`), and plays the
chosen one on the piano roll. /listen is also how a
script gets the audio of a MIDI file the app made.
"""

from __future__ import annotations

import html

import gradio as gr
import pretty_midi

from core.limits import MAX_TEMPO_BPM, MIN_TEMPO_BPM, check_tempo, shown
from core.music.constants import STEPS_PER_BAR
from core.music.melody import pitch_range
from core.music.midi_io import ExtractedMelody, MidiInputError
from core.music.upload_reader import read_melody_lines
from demo.outputs import HEAVY_WORK, Refusal, melody_audio, refused_if_invalid, whole_number
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


def uploaded_melody_lines(midi_path: str | None, line: float) -> tuple[list[ExtractedMelody], int]:
    """The melody lines of an uploaded file and the chosen `line` (1-based) as an int, checked that
    it exists; gr.Error otherwise."""
    if not midi_path:
        raise Refusal("Upload a .mid or .midi file first.")
    try:
        melodies = read_melody_lines(midi_path)
    except MidiInputError as error:
        raise Refusal(f"This file cannot be used: {error}") from error
    except OSError as error:
        raise Refusal(f"The upload could not be read ({error}); upload it again.") from error
    if not melodies:
        raise Refusal("The file has no pitched notes in MIDI 21..108 (drums only or empty): no melody to use.")
    return melodies, whole_number(line, "Melody line", 1, len(melodies))


def program_for(instrument: str) -> int:
    """The General MIDI program of an Instrument choice, or a gr.Error that lists the choices."""
    if not isinstance(instrument, str) or instrument not in GM_PROGRAMS:
        raise Refusal(f"Unknown instrument {shown(instrument)}; choose one of: {', '.join(GM_PROGRAMS)}.")
    return GM_PROGRAMS[instrument]


def describe_and_render(midi_path: str | None, program_name: str = "Acoustic Grand Piano", tempo_bpm: float = 120,
                        line: int = 1, preview_format: str | None = None):
    """Extract the melody lines of an uploaded file and render one of them (as `preview_format`:
    `demo.outputs.render_preview`).

    Returns (markdown table of the lines, RollPlayer value of the chosen line playing its audio,
    the audio's path for download).
    """
    program = program_for(program_name)
    tempo = refused_if_invalid(check_tempo, tempo_bpm)
    melodies, line = uploaded_melody_lines(midi_path, line)
    chosen = melodies[line - 1].melody
    audio_path = melody_audio(chosen, tempo, program, preview_format)
    roll = roll_value(chosen, tempo, title=f"line {line}, as the models would hear it")
    return lines_table(melodies, line), with_audio(roll, audio_path), audio_path


# a file's lines on a phone: whole words in the cells (the table scrolls sideways where it must)
LINES_TABLE_CSS = """
@media (max-width: 600px) {
  #infill-lines table, #listen-lines table { display: block; overflow-x: auto; }
  #infill-lines th, #infill-lines td, #listen-lines th, #listen-lines td {
    word-break: normal; overflow-wrap: normal; padding: 4px 6px; font-size: 0.9em; }
}
"""


def lines_table(melodies: list[ExtractedMelody], chosen: int) -> str:
    """A Markdown table of a file's melody lines in their order (the likeliest tune first), line
    `chosen` (1-based) marked; at most MAX_LISTED_LINES rows, then how many more there are."""
    rows = ["| Line | Track | Instrument | Bars | Range |", "|---|---|---|---|---|"]
    for number, melody in enumerate(melodies[:MAX_LISTED_LINES], start=1):
        low, high = pitch_range(melody.melody)
        bars = melody.melody.size // STEPS_PER_BAR
        instrument = pretty_midi.program_to_instrument_name(melody.program)
        shown_number = f"**{number}** (chosen)" if number == chosen else str(number)
        track = markdown_cell(melody.name) if melody.name else f"no name (#{melody.instrument_index + 1} in the file)"
        rows.append(f"| {shown_number} | {track} | {instrument} | {bars} | "
                    f"{note_name(low)} to {note_name(high)} |")
    if len(melodies) > MAX_LISTED_LINES:
        rows.append(f"\n{len(melodies) - MAX_LISTED_LINES} more lines not listed (choose them by number, up to "
                    f"{len(melodies)}).")
    return "\n".join(rows)


def build_listen_tab(preview_format: gr.Textbox) -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context. preview_format: the page's
    (`demo.outputs.preview_format_input`)."""
    gr.Markdown("Upload a MIDI file to see the melody lines the models would take from it (one note at a time, "
                "on a sixteenth-note grid) and hear the one you choose. Infill uses the same lines.")
    with gr.Row():
        with gr.Column():
            midi_file = gr.File(label="MIDI file", file_types=[".mid", ".midi"], type="filepath", elem_id="listen-file")
            program = gr.Dropdown(list(GM_PROGRAMS), value="Acoustic Grand Piano", label="Instrument")
            tempo = gr.Slider(MIN_TEMPO_BPM, MAX_TEMPO_BPM, value=120, step=1, label="Tempo (BPM)")
            line = gr.Number(value=1, precision=0, minimum=1, label="Melody line to play")
            play = gr.Button("Extract and play", variant="primary", elem_id="listen-play")
        with gr.Column(scale=2):
            table = gr.Markdown(elem_id="listen-lines")
            roll = RollPlayer(elem_id="listen-roll")
            audio_file = gr.File(label="Audio preview")
    play.click(describe_and_render, [midi_file, program, tempo, line, preview_format], [table, roll, audio_file],
               api_name="listen",
               **HEAVY_WORK)
