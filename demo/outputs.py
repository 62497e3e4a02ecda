"""What every tab shares: the one pipeline per process, output files, audio and piano roll."""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np

from core.audio import DEFAULT_SAMPLE_RATE, render_midi, write_wav
from core.bundle import DEFAULT_MODEL_DIR, read_manifest
from core.limits import MAX_STEPS, MAX_TEMPO_BPM, MIN_TEMPO_BPM
from core.midi_io import melody_to_pretty_midi, pretty_midi_to_bytes
from core.pipeline import MelodyPipeline, MelodyResult
from demo.piano_roll import piano_roll

OUTPUT_DIR = Path(tempfile.gettempdir()) / "latent-melodies"
OUTPUT_MAX_AGE_S = 3600
SAMPLERS = ["Fast", "DDPM, 1000 steps (paper)"]  # labels of the Sampler radio: "fast" and "ddpm"
Audio = tuple[int, np.ndarray]  # (sample rate, int16 samples) for gr.Audio(type="numpy")


@functools.lru_cache(maxsize=1)
def shared_pipeline(model_dir: str = str(DEFAULT_MODEL_DIR)) -> MelodyPipeline:
    """The pipeline is loaded once per process and shared by every request."""
    return MelodyPipeline(model_dir)


def diffusion_available(model_dir: str = str(DEFAULT_MODEL_DIR)) -> bool:
    return "diffusion" in read_manifest(model_dir)["components"]


def fresh_output_paths(stem: str) -> tuple[Path, Path]:
    """New MIDI and WAV paths; files older than an hour are removed first. Concurrent requests
    clean up at once, so a file listed here may already be gone by the time it is looked at."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in OUTPUT_DIR.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if now - old.stat().st_mtime > OUTPUT_MAX_AGE_S:
                old.unlink()
    handle = tempfile.NamedTemporaryFile(dir=OUTPUT_DIR, prefix=f"{stem}-", suffix=".mid", delete=False)
    handle.close()
    midi_path = Path(handle.name)
    return midi_path, midi_path.with_suffix(".wav")


def melody_audio(melody: np.ndarray, tempo_bpm: float, program: int) -> Audio:
    """(T,) tokens -> audio for a gr.Audio widget."""
    samples = render_midi(melody_to_pretty_midi(melody, tempo_bpm, program))
    return DEFAULT_SAMPLE_RATE, (samples * 32767).astype(np.int16)


def publish(result: MelodyResult, stem: str, title: str, highlight: bool = False):
    """Render a result for the page: (audio, piano roll, MIDI path, WAV path)."""
    samples = render_midi(result.midi)
    midi_path, wav_path = fresh_output_paths(stem)
    midi_path.write_bytes(pretty_midi_to_bytes(result.midi))
    write_wav(wav_path, samples)
    figure = piano_roll(result.melody, result.regenerated if highlight else None, title=title)
    return (DEFAULT_SAMPLE_RATE, (samples * 32767).astype(np.int16)), figure, str(midi_path), str(wav_path)


def whole_number(value: float | None, name: str, low: int, high: int) -> int:
    """A number widget's value as an int in [low, high], or a gr.Error that says what to enter."""
    if value is None or not np.isfinite(value) or value != int(value) or not low <= value <= high:
        raise gr.Error(f"{name} must be a whole number from {low} to {high}, got {value}.")
    return int(value)


def progress_reporter(progress: gr.Progress, verb: str):
    """A sampler callback that drives a Gradio progress bar."""
    return lambda update: progress(update.done / update.total, desc=f"{verb} {update.done}/{update.total}")


def sampler_choice(sampler: str, steps: float | None) -> tuple[str, int | None]:
    """The Sampler radio and Steps slider as the pipeline's (sampler, steps); None steps: its default."""
    if sampler not in SAMPLERS:
        raise gr.Error(f"Unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}.")
    if sampler == SAMPLERS[1]:
        return "ddpm", None
    return "fast", None if steps is None else whole_number(steps, "Steps", 1, MAX_STEPS)


def checked_tempo(tempo: float | None) -> float:
    if tempo is None or not MIN_TEMPO_BPM <= tempo <= MAX_TEMPO_BPM:
        raise gr.Error(f"Tempo must lie between {MIN_TEMPO_BPM:g} and {MAX_TEMPO_BPM:g} BPM, got {tempo}.")
    return float(tempo)
