"""What every tab shares: the one pipeline per process, output files, audio and piano roll."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import gradio as gr
import numpy as np
import pretty_midi
from gradio.utils import get_upload_folder

from core.audio import render_midi, write_audio
from core.bundle import DEFAULT_MODEL_DIR, read_manifest
from core.limits import APP_FAST_STEPS, MAX_GUIDANCE, check_whole, shown
from core.music.forms import FORM_CHOICES, STYLE_FORM
from core.music.keys import KEY_NAMES
from core.music.midi_io import melody_to_pretty_midi, pretty_midi_to_bytes
from core.music.notation import abc_text, chunk_bars, musicxml_text
from core.nets.transformer import ANY_STYLE
from core.pipeline import MelodyPipeline, MelodyResult
from core.progress import ProgressCallback, SamplerProgress
from core.requests import DEFAULT_GUIDANCE, DEFAULT_STYLE, RenderOptions
from demo.roll_player import form_sections, roll_value, with_audio, with_notation
from demo.score_view import score_svg

T = TypeVar("T")

# one folder per app process, inside Gradio's cache so that Gradio serves the files without copying them
LOG = logging.getLogger("demo")
LOGGED_MESSAGE_CHARS = 200  # a refusal is logged on one line, its message cut there


class Refusal(gr.Error):
    """A request refused for what it asked: its message tells the user what to change. Expected,
    so it is logged on one line and Gradio prints no traceback for it."""

    def __init__(self, message: str):
        super().__init__(message, print_exception=False)
        LOG.warning("refused: %s", message[:LOGGED_MESSAGE_CHARS])

OUTPUT_PREFIX = "latent-melodies-"
OUTPUT_DIR = Path(get_upload_folder()) / f"{OUTPUT_PREFIX}{os.getpid()}"
PREVIEW_SAMPLE_RATE = 22_050  # audio previews: half the CD rate halves synthesis and encoding (0.68 MB per 64 bars)
OUTPUT_MAX_AGE_S = 3600
OUTPUT_MAX_BYTES = 200 * 2**20  # past this, the oldest results are removed first
SAMPLING_SHARE, AUDIO_START = 0.85, 0.92  # the progress bar after sampling, and where rendering the audio starts
HEAVY_CONCURRENCY = 2  # requests that sample, decode or render at once, over all tabs together
# every handler that samples, decodes or renders joins this one concurrency group
HEAVY_WORK = {"concurrency_id": "heavy-work", "concurrency_limit": HEAVY_CONCURRENCY}
MODEL_LABELS = ["Diffusion", "TransformerMDN (baseline)"]  # labels of the Model radio
PREVIEW_FORMATS = (".ogg", ".mp3")  # Ogg Vorbis where the browser plays it (smaller, faster to encode), else MP3
# the page asks its browser once, at load, which preview format it plays (`preview_format_input`)
PREVIEW_FORMAT_JS = """() => document.createElement('audio').canPlayType('audio/ogg; codecs="vorbis"')
  ? '.ogg' : '.mp3'"""
STYLE_KEY = "the style's own"  # the Key control's default: D for folk, F for renaissance, ... (core.music.keys)
KEY_CHOICES = [STYLE_KEY, *KEY_NAMES]
SAMPLERS = ["Fast", "DDPM, 1000 steps (paper)"]  # labels of the Sampler radio: "fast" and "ddpm"
STYLE_HINT = ("folk: folk tunes and reels; renaissance: Palestrina-era voice parts; chorale: Bach chorale melodies; "
              "classical: themes from classical scores; other: the rest of the corpus; any: the model chooses")


@functools.lru_cache(maxsize=1)
def shared_pipeline(model_dir: str = str(DEFAULT_MODEL_DIR)) -> MelodyPipeline:
    """The pipeline is loaded once per process and shared by every request."""
    return MelodyPipeline(model_dir)


def diffusion_available(model_dir: str = str(DEFAULT_MODEL_DIR)) -> bool:
    return "diffusion" in read_manifest(model_dir)["components"]


def _existing_files(folder: Path) -> list[tuple[float, int, Path]]:
    """(modification time, size, path) of the files in `folder`, oldest first; files that another
    request removes meanwhile are left out."""
    found = []
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            status = path.stat()
            found.append((status.st_mtime, status.st_size, path))
    return sorted(found)


def clean_output_folder(folder: Path, max_age_s: float = OUTPUT_MAX_AGE_S, max_bytes: int = OUTPUT_MAX_BYTES) -> None:
    """Remove files older than `max_age_s`, then the oldest ones until `folder` holds at most
    `max_bytes`. Concurrent requests clean up at once, so a file may already be gone."""
    now = time.time()
    files = _existing_files(folder)
    total = sum(size for _, size, _ in files)
    for modified, size, path in files:
        if now - modified <= max_age_s and total <= max_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        total -= size


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_abandoned_output_folders(parent: Path) -> list[Path]:
    """Remove the `latent-melodies-<pid>` folders under `parent` whose app process has ended (a
    restarted Space leaves its last process's files behind); return the folders removed."""
    removed = []
    for folder in parent.glob(f"{OUTPUT_PREFIX}*"):
        pid = folder.name.removeprefix(OUTPUT_PREFIX)
        if folder.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@functools.lru_cache(maxsize=1)
def _remove_abandoned_once() -> None:
    remove_abandoned_output_folders(OUTPUT_DIR.parent)


def fresh_output_path(stem: str, suffix: str) -> Path:
    """A new, empty file `stem-<random><suffix>` in OUTPUT_DIR, after cleaning it (`clean_output_folder`;
    the first call of a process also removes the folders of ended processes)."""
    _remove_abandoned_once()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    clean_output_folder(OUTPUT_DIR)
    handle = tempfile.NamedTemporaryFile(dir=OUTPUT_DIR, prefix=f"{stem}-", suffix=suffix, delete=False)
    handle.close()
    return Path(handle.name)


@dataclass(frozen=True)
class AudioPreview:
    """A MIDI's audio, rendered after its first answer (piano roll, MIDI) is on the page; for a
    result, the very MIDI its download holds (`MelodyResult.midi`)."""

    midi: pretty_midi.PrettyMIDI
    path: Path  # where to write it, as .ogg (`render_preview` changes the suffix for another format)


def preview_format_input() -> gr.Textbox:
    """The page's hidden record of the preview format its browser plays (PREVIEW_FORMATS), set once
    when the page loads (`PREVIEW_FORMAT_JS`); every handler that renders audio reads it. Call
    inside a `gr.Blocks` context."""
    return gr.Textbox(PREVIEW_FORMATS[0], elem_classes="trigger-only", show_label=False, container=False)


def preview_suffix(preview_format: str | None) -> str:
    """The suffix of a preview for a page that plays `preview_format`; Ogg for anything else (an API call)."""
    return preview_format if preview_format in PREVIEW_FORMATS else PREVIEW_FORMATS[0]


def audio_preview(midi: pretty_midi.PrettyMIDI, stem: str = "melody") -> AudioPreview:
    """A preview of `midi`, to be written by `render_preview` to a new path of OUTPUT_DIR; no file
    exists there until then (an API call that never asks for the audio leaves nothing behind)."""
    return AudioPreview(midi, OUTPUT_DIR / f"{stem}-{secrets.token_hex(8)}.ogg")


def render_preview(preview: AudioPreview, preview_format: str | None = None) -> str:
    """Write the preview at PREVIEW_SAMPLE_RATE as Ogg Vorbis, or as MP3 for a page whose browser
    plays no Ogg (`preview_format`, PREVIEW_FORMATS); its path, or a gr.Error for audio that would
    last longer than the renderer allows."""
    try:
        samples = render_midi(preview.midi, sample_rate=PREVIEW_SAMPLE_RATE)
    except ValueError as error:
        raise Refusal(f"No audio preview: {error}. The MIDI download holds the whole melody; choose fewer bars "
                       "or a faster tempo to hear it here.") from error
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    path = preview.path.with_suffix(preview_suffix(preview_format))
    write_audio(path, samples, PREVIEW_SAMPLE_RATE)
    return str(path)


def melody_audio(melody: np.ndarray, tempo_bpm: float, program: int, preview_format: str | None = None) -> str:
    """(T,) tokens -> the path of its audio (`render_preview`), for a gr.Audio widget."""
    return render_preview(audio_preview(refused_if_invalid(melody_to_pretty_midi, melody, tempo_bpm, program)),
                          preview_format)


def publish(result: MelodyResult, render: RenderOptions, stem: str, title: str,
            original: np.ndarray | None = None):
    """A result's first answer for the page: (RollPlayer value, MIDI path, its AudioPreview to render next).
    `render`: the tempo and program the result's MIDI was made with; `original`: for an infilled
    result, the (T0,) source melody, whose replaced notes the roll draws faint under the shaded bars."""
    return publish_melody(result.melody, result.midi, render.tempo_bpm, stem, title,
                          None if original is None else result.regenerated, original, form_sections(result.form))


def publish_melody(melody: np.ndarray, midi: pretty_midi.PrettyMIDI, tempo_bpm: float, stem: str, title: str,
                   regenerated: np.ndarray | None = None, original: np.ndarray | None = None,
                   sections: Sequence[Sequence] = ()):
    """`publish` for (T,) tokens and the MIDI made of them at `tempo_bpm`; regenerated: (T // 32,) bool,
    the 2-bar latents to shade and label "new" in the score (with the `original` notes faint under them);
    sections: the form's letters for the roll (`demo.roll_player.form_sections`)."""
    midi_path = fresh_output_path(stem, ".mid")
    midi_path.write_bytes(pretty_midi_to_bytes(midi))
    roll = roll_value(melody, tempo_bpm, regenerated, original, title, sections)
    marked = frozenset() if regenerated is None else chunk_bars(regenerated)
    roll = with_notation(roll, *write_notation(melody, midi_path, title, tempo_bpm, marked))
    return roll, str(midi_path), AudioPreview(midi, midi_path.with_suffix(".ogg"))


def write_notation(melody: np.ndarray, midi_path: Path, title: str, tempo_bpm: float,
                   marked_bars: frozenset[int]) -> tuple[Path, Path, Path]:
    """The melody's score image, ABC and MusicXML, written beside its MIDI under the same name:
    their paths."""
    musicxml = musicxml_text(melody, title, tempo_bpm, marked_bars)
    texts = {".svg": score_svg(musicxml), ".abc": abc_text(melody, title, tempo_bpm, marked_bars),
             ".musicxml": musicxml}
    for suffix, text in texts.items():
        midi_path.with_suffix(suffix).write_text(text)
    return tuple(midi_path.with_suffix(suffix) for suffix in texts)


def play_preview(preview: AudioPreview | None, roll: dict | None, preview_format: str | None = None,
                 progress: gr.Progress = gr.Progress()) -> tuple[dict | None, str | None]:
    """Handler of the step after a first answer: render `preview` (in the page's `preview_format`) and
    give it to the roll's player; (roll value, audio path for the download box). Nothing to render (an
    earlier step failed): (roll, None). Its progress continues the bar of the sampling before it
    (`progress_reporter`)."""
    progress(AUDIO_START, desc="Rendering the audio")
    path = None if preview is None else render_preview(preview, preview_format)
    return with_audio(roll, path), path


def play_infill(original: AudioPreview | None, result: AudioPreview | None, roll: dict | None,
                preview_format: str | None = None,
                progress: gr.Progress = gr.Progress()) -> tuple[str | None, dict | None, str | None]:
    """`play_preview` for an infilled result, plus the original's audio first: (original audio path, roll
    value playing the result, result audio path)."""
    played, path = play_preview(result, roll, preview_format, progress)
    return None if original is None else render_preview(original, preview_format), played, path


def refused_if_invalid(check: Callable[..., T], *args, **kwargs) -> T:
    """check(*args, **kwargs): a request's constructor or a `core.limits` check, whose ValueError
    (which says what to change) becomes the page's one gr.Error."""
    try:
        return check(*args, **kwargs)
    except ValueError as error:
        raise Refusal(str(error)) from error


def whole_number(value: float | None, name: str, low: int, high: int) -> int:
    """A number widget's value as an int in [low, high], or a gr.Error that says what to enter."""
    return refused_if_invalid(check_whole, name, value, low, high)


def progress_reporter(progress: gr.Progress) -> ProgressCallback:
    """A sampler callback that moves a Gradio progress bar through its first SAMPLING_SHARE, once per
    whole percent (a 1000-step sampler would otherwise send 1000 updates); the audio step goes on
    from AUDIO_START (`play_preview`), so one bar covers sampling, writing and audio."""
    shown_percent = -1

    def report(update: SamplerProgress) -> None:
        nonlocal shown_percent
        percent = int(SAMPLING_SHARE * 100 * update.done / update.total)
        if percent != shown_percent:
            progress(percent / 100, desc=f"Sampling: step {update.done} of {update.total}")
            shown_percent = percent
    return report


def sampler_choice(sampler: str, steps: float | None) -> tuple[str, int | None]:
    """The Sampler radio and Steps slider as the pipeline's (sampler, steps); None steps: its default."""
    if sampler not in SAMPLERS:
        raise Refusal(f"Unknown sampler {shown(sampler)}; choose one of: {', '.join(SAMPLERS)}.")
    if sampler == SAMPLERS[1]:
        return "ddpm", None
    return "fast", None if steps is None else whole_number(steps, "Steps", *APP_FAST_STEPS)


def style_labels() -> list[str]:
    """The Style dropdown's choices: the diffusion model's labels, then "any" (no style)."""
    return [*shared_pipeline().styles(), ANY_STYLE]


def style_inputs(model: gr.Radio | None = None, render_strength: bool = True) -> tuple[gr.Dropdown, gr.Slider]:
    """The Style dropdown and its strength (the guidance scale); call inside a `gr.Blocks` context.
    `model`: the tab's Model radio, if it has one (labels of `MODEL_LABELS`); with `render_strength`
    False the caller places the strength slider (`.render()`), e.g. among advanced settings."""
    labels = style_labels()
    style = gr.Dropdown(labels, value=DEFAULT_STYLE if DEFAULT_STYLE in labels else ANY_STYLE, label="Style",
                        info=STYLE_HINT)
    guidance = gr.Slider(0, MAX_GUIDANCE, value=DEFAULT_GUIDANCE, step=0.5, label="Style strength",
                         info="0 ignores the style, 1 follows it, 2 (default) keeps the key best; higher is "
                              "more typical of the style but less varied", render=render_strength)
    if model is None:
        style.change(strength_control, [style], guidance, api_visibility="private")
    else:
        for control in (style, model):
            control.change(strength_control, [style, model], guidance, api_visibility="private")
    return style, guidance


def key_input(elem_id: str) -> gr.Dropdown:
    """The Key control of a generation (`GenerationRequest.key`); call inside a `gr.Blocks` context."""
    return gr.Dropdown(KEY_CHOICES, value=STYLE_KEY, label="Key", elem_id=elem_id,
                       info="the major key the melody ends up in (a minor tune: its relative major)")


def key_choice(key: str | None) -> dict:
    """The Key control as the pipeline's keyword argument (None: the style's own key), or a gr.Error."""
    if key in (None, "", STYLE_KEY):
        return {"key": None}
    if key not in KEY_NAMES:
        raise Refusal(f"Key must be one of: {', '.join(KEY_CHOICES)}; got {shown(key)}.")
    return {"key": key}


def form_input(elem_id: str) -> gr.Dropdown:
    """The Form control of a generation (`SamplingOptions.form`); call inside a `gr.Blocks` context."""
    return gr.Dropdown(list(FORM_CHOICES), value=STYLE_FORM, label="Form", elem_id=elem_id,
                       info="which 8-bar sections come back (drawn together, so a returning phrase fits every "
                            "place it stands) and, in a real tune's form, which phrases answer an earlier one "
                            "with its shape (A′): the form of one of the style's real tunes, a named one, or free")


def phrasing_input(elem_id: str) -> gr.Checkbox:
    """The switch of `ShapingOptions.phrasing`, on by default; call inside a `gr.Blocks` context."""
    return gr.Checkbox(value=True, label="Shape phrases like real tunes", elem_id=elem_id,
                       info="after sampling: renaissance phrases move up or down an octave so the line flows "
                            "smoothly; infilled folk bars repeat nearby phrases. Off (or other styles): the "
                            "model's raw output")


def strength_control(style: str, model: str = MODEL_LABELS[0]):
    """The Style strength slider, usable only where it changes something: a style other than
    "any", sampled by the diffusion model (the TransformerMDN takes the label or not)."""
    return gr.update(interactive=style != ANY_STYLE and model_name_of(model) == "diffusion")


def model_name_of(label: str) -> str:
    """A Model radio label (`MODEL_LABELS`) as the pipeline's model name."""
    return "mdn" if label.startswith("Transformer") else "diffusion"


def style_choice(style: str | None, guidance: float | None) -> dict:
    """The Style widgets as the request's fields; a style the models do not know is a gr.Error that
    lists the ones they know (the guidance is checked by the request)."""
    return {"style": refused_if_invalid(shared_pipeline().check_style, style), "guidance": guidance}
