"""The "Infill" tab: keep a melody's other bars and regenerate the chosen ones.

The melody comes from a bundled corpus example (the default), an uploaded MIDI file
(melody lines extracted as in the data pipeline, the likeliest tune first), the last
generation or the latest result, and is drawn on the piano roll as soon as it is chosen:
dragging across the roll's bar numbers fills in the bars to regenerate. The result is drawn
with the regenerated bars shaded over the notes they replaced. Diffusion infilling can be
compared with the paper's baselines (spherical interpolation, the prior) with one click;
"Continue" adds new bars after the melody. Every result joins the session's editing history:
"Latest result (keep editing)" infills or continues it further (the shading grows with every
edit) and "Back to the previous version" undoes the newest.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import numpy as np

from core.diffusion.samplers import default_steps
from core.limits import (
    APP_FAST_STEPS,
    MAX_SEED,
    MAX_TEMPO_BPM,
    MIN_BARS,
    MIN_TEMPO_BPM,
    PUBLIC_MAX_WORK,
    check_tempo,
    sampling_work,
    shown,
)
from core.music.constants import BARS_PER_CHUNK, DEFAULT_PROGRAM, DEFAULT_TEMPO_BPM
from core.music.midi_io import melody_to_pretty_midi
from core.requests import DEFAULT_GUIDANCE, DEFAULT_STYLE, InfillRequest, continuation, parse_bar_ranges, replaced
from demo.audition import GM_PROGRAMS, lines_table, uploaded_melody_lines
from demo.generate_tab import program_for
from demo.outputs import (
    HEAVY_WORK,
    PREVIEW_FORMATS,
    SAMPLERS,
    Refusal,
    audio_preview,
    phrasing_input,
    play_infill,
    progress_reporter,
    publish_melody,
    refused_if_invalid,
    sampler_choice,
    shared_pipeline,
    style_choice,
    style_inputs,
)
from demo.queue_gate import ceiling_message, public_limits
from demo.roll_player import RollPlayer, roll_value, scroll_to_roll_js, selected_bars, with_audio

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES = {path.stem.replace("_", " "): path for path in sorted(EXAMPLES_DIR.glob("*.mid"))}
# the style each bundled example is written in, by the first word of its name (the Style control follows it)
EXAMPLE_STYLES = {"monteverdi": "renaissance", "mozart": "classical", "nightingale": "folk"}
SOURCES = ["Uploaded MIDI", "Bundled example", "Last generation", "Latest result (keep editing)"]
LATEST = SOURCES[3]  # the newest version of this session's editing history
MAX_VERSIONS = 10  # versions an editing history keeps (the oldest go first)
MELODYS_OWN = "the melody's own"  # the Instrument choice that keeps the file's instrument
METHODS = {"Diffusion": "diffusion", "Interpolation (baseline)": "interpolation", "Prior (baseline)": "prior"}


class SourceMelody(NamedTuple):
    """The melody to work on, with the tempo and General MIDI program it comes with (None: unknown)."""

    melody: np.ndarray  # (T,) tokens
    tempo_bpm: float | None
    program: int | None


class Version(NamedTuple):
    """One result of Infill or Continue in the session's editing history (newest last)."""

    source: SourceMelody  # the result, with the tempo and program of its MIDI
    regenerated: np.ndarray  # (K,) bool: the 2-bar latents regenerated since its edits began from another source
    roll: dict  # its RollPlayer value, without audio
    midi_path: str
    title: str


def line_from_file(path: str | None, line: float) -> SourceMelody:
    """The chosen melody line of a MIDI file with the file's tempo and the line's program, or a
    gr.Error that says what is wrong."""
    melodies, line_number = uploaded_melody_lines(path, line)
    chosen = melodies[line_number - 1]
    return SourceMelody(chosen.melody, chosen.tempo_bpm, chosen.program)


@functools.lru_cache(maxsize=len(EXAMPLES))
def example_melody(name: str) -> SourceMelody:
    """A bundled example's first melody line (read once per process)."""
    if name not in EXAMPLES:
        raise Refusal(f"Unknown example {shown(name)}; choose one of: {', '.join(EXAMPLES)}.")
    example = line_from_file(str(EXAMPLES[name]), 1)
    example.melody.setflags(write=False)
    return example


def source_melody(source: str, midi: str | None, example: str, line: float, last: np.ndarray | None,
                  from_script: bool = False, history: list[Version] | None = None) -> SourceMelody:
    """The chosen source: the last generation, a bundled example, the `line`-th melody line of the
    upload or the newest version of the editing `history`; a gr.Error that says what to do where
    there is none. A script's call that sends a file (`from_script`) works on that file:
    gradio_client fills in the page's default source, the bundled example, which would otherwise
    ignore it; with "Last generation" or LATEST it is refused."""
    if from_script and midi:
        if source in ("Last generation", LATEST):
            asked = "the last generation" if source == "Last generation" else "the latest result"
            raise Refusal(f"This call sends a MIDI file and also asks for {asked}: send source='Uploaded MIDI' to "
                          "work on the file, or leave the file out.")
        source = "Uploaded MIDI"
    if source == LATEST:
        if not history:
            raise Refusal("Nothing has been infilled or continued in this session yet: Infill or Continue a "
                          "melody first, then keep editing its result.")
        return history[-1].source
    if source == "Last generation":
        if last is None:
            raise Refusal("Nothing has been generated in this session yet: generate a melody first, "
                           "or pick another melody source.")
        return SourceMelody(np.asarray(last, dtype=np.int8), None, None)
    if source == "Bundled example":
        return example_melody(example)
    if source == "Uploaded MIDI":
        return line_from_file(midi, line)
    raise Refusal(f"Unknown melody source {shown(source)}; choose one of: {', '.join(SOURCES)}.")


def from_script(request: gr.Request | None) -> bool:
    """Whether a request comes from gradio_client (which marks its calls) rather than the page."""
    return request is not None and request.headers.get("x-gradio-user") == "api"


def source_and_options(midi: str | None, seed: float, source: str, example: str, line: float, sampler: str,
                       steps: float | None, instrument: str, tempo: float, last_melody: np.ndarray | None,
                       style: str, guidance: float, phrasing: bool, own_tempo: bool = True,
                       request: gr.Request | None = None,
                       history: list[Version] | None = None) -> tuple[np.ndarray, dict]:
    """The chosen melody (T,) and the InfillRequest fields that infilling and continuing share, or a
    gr.Error. Instrument MELODYS_OWN and `own_tempo` (the defaults) keep the melody's own, as its
    file has them; the last generation has none of its own: the piano, and `tempo`."""
    chosen = source_melody(source, midi, example, line, last_melody, from_script(request), history)
    sampler_name, steps_value = sampler_choice(sampler, steps)
    program = chosen.program if instrument == MELODYS_OWN else program_for(instrument)
    if own_tempo and chosen.tempo_bpm is not None:
        tempo = chosen.tempo_bpm
    return chosen.melody, dict(seeds=(seed,), sampler=sampler_name, steps=steps_value, tempo_bpm=tempo,
                               program=DEFAULT_PROGRAM if program is None else program, phrasing=phrasing,
                               **style_choice(style, guidance))


def infill_work(request: InfillRequest) -> int:
    """What an infilling asks of the machine (`core.limits.sampling_work`): each of its seam candidates
    runs the sampler over the whole melody's latents, each step 1 + `resample` times; the paper's
    baselines sample nothing."""
    if request.method != "diffusion":
        return 0
    sampling = request.sampling
    steps = (sampling.steps or default_steps(sampling.sampler, shared_pipeline().schedule)) * (1 + request.resample)
    return sampling_work(steps, len(request.chunks) * BARS_PER_CHUNK, len(sampling.seeds)) * request.draws


def within_public_ceiling(request: InfillRequest) -> InfillRequest:
    """On a public Space (`demo.queue_gate.public_limits`), `request` with as many seam candidates as
    fit PUBLIC_MAX_WORK, or a Refusal that says what fits where one draw alone does not; elsewhere
    `request` as it is."""
    if not public_limits():
        return request
    one_draw = infill_work(replaced(request, seam_candidates=1))
    if one_draw > PUBLIC_MAX_WORK:
        raise Refusal(ceiling_message(one_draw))
    fitting = PUBLIC_MAX_WORK // one_draw if one_draw else request.seam_candidates
    return replaced(request, seam_candidates=min(request.seam_candidates, fitting))


def answer_infill(melody: np.ndarray, request: InfillRequest, stem: str, title: str, progress: gr.Progress,
                  history: list[Version] | None, keep_editing: bool):
    """Run the request; (RollPlayer value with the regenerated bars shaded over the notes they
    replaced, MIDI path, AudioPreview of the original melody, of the result, the editing history
    with the result added). The previews are rendered in the next step (`play_infill`). On a public
    Space the request is held to its ceiling first (`within_public_ceiling`). With
    `keep_editing` (the source was the history's newest version) the shading covers every bar
    regenerated since the edits began."""
    request = within_public_ceiling(request)
    result = refused_if_invalid(shared_pipeline().infill, request, progress_reporter(progress))[0]
    regenerated = result.regenerated
    if keep_editing and history:
        before = history[-1].regenerated
        regenerated = regenerated | np.pad(before, (0, len(regenerated) - len(before)))
    render = request.render
    roll, midi_path, preview = publish_melody(result.melody, result.midi, render.tempo_bpm, f"{stem}-{result.seed}",
                                              title, regenerated, original=melody)
    original = melody_to_pretty_midi(melody, render.tempo_bpm, render.program)
    version = Version(SourceMelody(result.melody, render.tempo_bpm, render.program), regenerated, roll, midi_path,
                      title)
    return roll, midi_path, audio_preview(original, "original"), preview, [*(history or [])[1 - MAX_VERSIONS:], version]


def versions_text(history: list[Version] | None) -> str:
    """The editing history as the page lists it, newest last and marked as shown."""
    if not history:
        return ""
    lines = [f"{number}. {version.title}" + (" (shown)" if number == len(history) else "")
             for number, version in enumerate(history, start=1)]
    return (f"**Versions this session** (choose \"{LATEST}\" to edit the newest further):\n\n"
            + "\n".join(lines))


def back_to_earlier(history: list[Version] | None) -> tuple:
    """Undo: drop the newest version and show the one before it, playing its audio where it was
    rendered; (roll, MIDI path, audio path, history, versions text), or a gr.Error with none before."""
    if not history or len(history) < 2:
        raise Refusal("There is no earlier version to go back to: each Infill or Continue adds one.")
    history = history[:-1]
    shown_version = history[-1]
    rendered = [Path(shown_version.midi_path).with_suffix(suffix) for suffix in PREVIEW_FORMATS]
    audio_path = next((str(path) for path in rendered if path.is_file()), None)
    return (with_audio(shown_version.roll, audio_path), shown_version.midi_path, audio_path, history,
            versions_text(history))


def infill_melody(midi: str | None = None, bars: str = "9-16", seed: float = 0, source: str = SOURCES[0],
                  example: str = next(iter(EXAMPLES), ""), line: float = 1, method: str = "Diffusion",
                  sampler: str = SAMPLERS[0], steps: float | None = None, instrument: str = MELODYS_OWN,
                  tempo: float = DEFAULT_TEMPO_BPM, last_melody: np.ndarray | None = None,
                  style: str = DEFAULT_STYLE, guidance: float = DEFAULT_GUIDANCE, phrasing: bool = True,
                  own_tempo: bool = True, history: list[Version] | None = None, request: gr.Request = None,
                  progress=gr.Progress()):
    """Regenerate `bars` of the chosen melody: see `answer_infill` for what it returns."""
    melody, options = source_and_options(midi, seed, source, example, line, sampler, steps, instrument, tempo,
                                         last_melody, style, guidance, phrasing, own_tempo, request, history)
    if method not in METHODS:
        raise Refusal(f"Unknown method {shown(method)}; choose one of: {', '.join(METHODS)}.")
    request = refused_if_invalid(lambda: InfillRequest.of(
        melody=melody, bars_to_regenerate=tuple(parse_bar_ranges(bars or "")), method=METHODS[method], **options))
    title = f"bars {bars} regenerated ({method.split(' ')[0].lower()}), shaded"
    return answer_infill(melody, request, "infill", title, progress, history, source == LATEST)


def continue_melody(midi: str | None = None, add_bars: float = 8, seed: float = 0, source: str = SOURCES[0],
                    example: str = next(iter(EXAMPLES), ""), line: float = 1, sampler: str = SAMPLERS[0],
                    steps: float | None = None, instrument: str = MELODYS_OWN, tempo: float = DEFAULT_TEMPO_BPM,
                    last_melody: np.ndarray | None = None, style: str = DEFAULT_STYLE,
                    guidance: float = DEFAULT_GUIDANCE, phrasing: bool = True, own_tempo: bool = True,
                    history: list[Version] | None = None, request: gr.Request = None, progress=gr.Progress()):
    """Continue the chosen melody by `add_bars` new bars: see `answer_infill` for what it returns."""
    melody, options = source_and_options(midi, seed, source, example, line, sampler, steps, instrument, tempo,
                                         last_melody, style, guidance, phrasing, own_tempo, request, history)
    request = refused_if_invalid(continuation, melody, add_bars, **options)
    return answer_infill(melody, request, "continued", f"{request.extend_bars} new bars added", progress, history,
                         source == LATEST)


def show_source(source: str, midi: str | None, example: str, line: float, last: np.ndarray | None,
                bars: str, tempo: float, history: list[Version] | None = None) -> dict | None:
    """The piano roll of the chosen source melody, with `bars` selected; None while there is none
    (no upload yet, nothing generated or edited yet). An unreadable upload is a gr.Error that says why."""
    if ((source == "Uploaded MIDI" and not midi) or (source == "Last generation" and last is None)
            or (source == LATEST and not history)):
        return None
    melody = source_melody(source, midi, example, line, last, history=history).melody
    value = roll_value(melody, refused_if_invalid(check_tempo, tempo), title="the melody to work on")
    return select_bars(value, bars)


def upload_lines(source: str, midi: str | None, line: float) -> str:
    """The uploaded file's melody lines, likeliest tune first, the chosen one marked; "" while
    another source is chosen or nothing is uploaded."""
    if source != "Uploaded MIDI" or not midi:
        return ""
    melodies, chosen = uploaded_melody_lines(midi, line)
    return "The file's melody lines, the likeliest tune first:\n\n" + lines_table(melodies, chosen)


def select_bars(roll: dict | None, bars: str) -> dict | None:
    """The roll with the span of the typed bar ranges selected (nothing where they do not parse)."""
    if roll is None:
        return None
    try:
        ranges = parse_bar_ranges(bars or "")
    except ValueError:
        return {**roll, "selection": None, "dragged": False}
    first, last = min(low for low, _ in ranges), max(high for _, high in ranges)
    return {**roll, "selection": [max(1, first), min(roll["bars"], last)], "dragged": False}


def example_style(example: str, style: str) -> str:
    """The Style for a bundled example: the style it is written in, where the models know that style."""
    written_in = EXAMPLE_STYLES.get(str(example).split(" ")[0], style)
    return written_in if written_in in shared_pipeline().styles() else style


def source_style(source: str, example: str, style: str) -> str:
    """The Style when the source changes: a bundled example's own (`example_style`); for another
    source the style chosen, but the default again where it is the one the example set (an upload
    of a pop song is not a Monteverdi madrigal)."""
    if source == "Bundled example":
        return example_style(example, style)
    example_set = EXAMPLE_STYLES.get(str(example).split(" ")[0])
    return DEFAULT_STYLE if style == example_set else style


def source_inputs(source: str) -> tuple:
    """Visibility of the upload, its line number and the example list: only the chosen source's."""
    uploaded = source == "Uploaded MIDI"
    return gr.update(visible=uploaded), gr.update(visible=uploaded), gr.update(visible=source == "Bundled example")


class InfillTab(NamedTuple):
    """What other tabs and the page's load wire to: the source radio, the roll, show_source's
    inputs, and the example list with the style control (`example_style`)."""

    source: gr.Radio
    roll: gr.HTML
    shown: list
    example: gr.Dropdown
    style: gr.Dropdown


def build_infill_tab(last_melody: gr.State, preview_format: gr.Textbox) -> InfillTab:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context. preview_format: the page's
    (`demo.outputs.preview_format_input`)."""
    with gr.Row():
        with gr.Column(scale=1):
            source = gr.Radio(SOURCES, value="Bundled example", label="Melody to work on")
            midi = gr.File(label="MIDI file", file_types=[".mid", ".midi"], type="filepath", visible=False)
            line = gr.Number(value=1, precision=0, minimum=1, label="Melody line of the file", visible=False,
                             info="1 is the likeliest tune (by register, instrument, track name, chords)")
            lines = gr.Markdown(elem_id="infill-lines")
            example = gr.Dropdown(list(EXAMPLES), value=next(iter(EXAMPLES), None), label="Bundled example")
            bars = gr.Textbox(value="9-16", label="Bars to regenerate (drag on the roll, or type e.g. 17-48 or 5-8, 17-24)",
                              elem_id="infill-bars")
            style, guidance = style_inputs(render_strength=False)
            seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed",
                             info="another seed, other new bars")
            go_button = gr.Button("Infill", variant="primary", elem_id="infill")
            with gr.Row():
                add_bars = gr.Slider(MIN_BARS, 64, value=8, step=2, label="Bars to add")
                continue_button = gr.Button("Continue the melody", elem_id="continue")
            instrument = gr.Dropdown([MELODYS_OWN, *GM_PROGRAMS], value=MELODYS_OWN, label="Instrument")
            with gr.Row():
                tempo = gr.Slider(MIN_TEMPO_BPM, MAX_TEMPO_BPM, value=120, step=1, label="Tempo (BPM)")
                own_tempo = gr.Checkbox(value=True, label="Keep the melody's own tempo",
                                        info="as its file has it; off: the tempo set here")
            with gr.Accordion("Advanced", open=False, elem_id="infill-advanced"):
                guidance.render()
                method = gr.Radio(list(METHODS), value="Diffusion", label="How to fill the bars",
                                  info="the diffusion model, or the paper's baselines: a blend of the bordering "
                                       "phrases (interpolation) or random phrases (prior)")
                sampler = gr.Radio(SAMPLERS, value=SAMPLERS[0], label="Sampler",
                                   info="Fast: 20 steps of DPM-Solver++; the paper's DDPM takes 1000 steps")
                steps = gr.Slider(*APP_FAST_STEPS, value=default_steps("fast", shared_pipeline().schedule), step=1,
                                  label="Fast sampler steps")
                phrasing = phrasing_input("infill-phrasing")
            original_preview, result_preview, history = gr.State(None), gr.State(None), gr.State([])
        with gr.Column(scale=2):
            first_example = next(iter(EXAMPLES), None)
            roll = RollPlayer(show_source("Bundled example", None, first_example, 1, None, "9-16", 120)
                              if first_example else None, selectable=True, elem_id="infill-roll")
            original_audio = gr.Audio(label="The original, to compare", type="filepath", interactive=False)
            with gr.Row():
                midi_file = gr.File(label="MIDI", elem_id="infill-midi")
                audio_file = gr.File(label="Audio preview")
            versions = gr.Markdown(elem_id="infill-versions")
            back = gr.Button("Back to the previous version", elem_id="infill-back", size="sm")
    source.change(source_inputs, source, [midi, line, example], api_visibility="private", queue=False)
    midi.upload(lambda: "Uploaded MIDI", None, source, api_visibility="private", queue=False)
    shown = [source, midi, example, line, last_melody, bars, tempo, history]
    for control in (source, midi, example, line):
        control.change(show_source, shown, roll, api_visibility="private", **HEAVY_WORK)
        # another melody: the last result's files and its original's audio go (never beside another melody)
        control.change(None, None, [original_audio, midi_file, audio_file], js="() => [null, null, null]",
                       queue=False)
    for control in (source, midi, line):
        control.change(upload_lines, [source, midi, line], lines, api_visibility="private", **HEAVY_WORK)
    example.change(example_style, [example, style], style, api_visibility="private", queue=False)
    source.change(source_style, [source, example, style], style, api_visibility="private", queue=False)
    roll.change(lambda value: selected_bars(value) or gr.skip(), roll, bars, api_visibility="private", queue=False)
    bars.input(select_bars, [roll, bars], roll, api_visibility="private", queue=False)
    first_answer = [roll, midi_file, original_preview, result_preview, history]
    common = [seed, source, example, line]
    after = [sampler, steps, instrument, tempo, last_melody, style, guidance, phrasing, own_tempo, history]
    for button, handler, inputs, name in ((go_button, infill_melody, [midi, bars, *common, method, *after], "infill"),
                                          (continue_button, continue_melody, [midi, add_bars, *common, *after],
                                           "continue")):
        button.click(None, None, [original_audio, audio_file], js=scroll_to_roll_js("infill-roll", 2))
        button.click(handler, inputs, first_answer, api_name=name, show_progress_on=[roll], **HEAVY_WORK) \
            .success(play_infill, [original_preview, result_preview, roll, preview_format],
                     [original_audio, roll, audio_file],
                     api_visibility="private", show_progress_on=[roll], **HEAVY_WORK) \
            .then(versions_text, history, versions, api_visibility="private", queue=False)
    back.click(back_to_earlier, history, [roll, midi_file, audio_file, history, versions], api_visibility="private",
               queue=False)
    if first_example is not None:
        gr.Examples([["Bundled example", first_example, "17-32", method_name, 0] for method_name in METHODS],
                    [source, example, bars, method, seed], label="Examples: bars 17-32 of the first example",
                    example_labels=[f"filled by {name[0].lower() + name[1:]}" for name in METHODS])
    return InfillTab(source, roll, shown, example, style)
