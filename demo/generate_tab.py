"""The "Generate" tab: sample a melody, hear it, see its piano roll, download MIDI and WAV."""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np

from core.audio import DEFAULT_SAMPLE_RATE, render_midi, write_wav
from core.cli_common import DEFAULT_MODEL_DIR
from core.midi_io import pretty_midi_to_bytes
from core.pipeline import MelodyPipeline
from demo.audition import GM_PROGRAMS
from demo.piano_roll import piano_roll

OUTPUT_DIR = Path(tempfile.gettempdir()) / "latent-melodies"
OUTPUT_MAX_AGE_S = 3600


@functools.lru_cache(maxsize=1)
def shared_pipeline(model_dir: str = str(DEFAULT_MODEL_DIR)) -> MelodyPipeline:
    """The pipeline is loaded once per process and shared by every request."""
    return MelodyPipeline(model_dir)


def diffusion_available(model_dir: str = str(DEFAULT_MODEL_DIR)) -> bool:
    return (Path(model_dir) / "diffusion.json").is_file() and (Path(model_dir) / "codec.json").is_file()


def fresh_output_paths(stem: str) -> tuple[Path, Path]:
    """New MIDI and WAV paths; files older than an hour are removed first."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in OUTPUT_DIR.iterdir():
        if now - old.stat().st_mtime > OUTPUT_MAX_AGE_S:
            old.unlink(missing_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=OUTPUT_DIR, prefix=f"{stem}-", suffix=".mid", delete=False)
    handle.close()
    midi_path = Path(handle.name)
    return midi_path, midi_path.with_suffix(".wav")


def generate_melody(bars: float, seed: float, sampler: str, steps: float, model: str, instrument: str,
                    tempo: float, progress=gr.Progress()):
    """Returns (audio (rate, int16 samples), piano roll figure, MIDI path, WAV path)."""
    pipeline = shared_pipeline()
    sampler_name = "ddpm" if sampler.startswith("DDPM") else "fast"
    model_name = "mdn" if model.startswith("Transformer") else "diffusion"
    report = lambda done, total, *_: progress(done / total, desc=f"sampling {done}/{total}")
    try:
        result = pipeline.generate(int(bars), int(seed), model_name, sampler_name,
                                   None if sampler_name == "ddpm" else int(steps), False, 1.0, float(tempo),
                                   GM_PROGRAMS[instrument], report)
    except ValueError as error:
        raise gr.Error(str(error)) from error
    samples = render_midi(result.midi)
    midi_path, wav_path = fresh_output_paths(f"melody-{int(seed)}")
    midi_path.write_bytes(pretty_midi_to_bytes(result.midi))
    write_wav(wav_path, samples)
    figure = piano_roll(result.melody, title=f"{int(bars)} bars, seed {int(seed)}, {model_name}")
    return (DEFAULT_SAMPLE_RATE, (samples * 32767).astype(np.int16)), figure, str(midi_path), str(wav_path)


def build_generate_tab() -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context."""
    if not diffusion_available():
        gr.Markdown("The diffusion model has not been trained into `demo/model` yet.")
        return
    with gr.Row():
        with gr.Column(scale=1):
            bars = gr.Slider(2, 256, value=64, step=2, label="Bars (the model trained on 64)")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, label="Seed")
                dice = gr.Button("🎲", scale=0)
            sampler = gr.Radio(["Fast (DDIM)", "DDPM, 1000 steps (paper)"], value="Fast (DDIM)", label="Sampler")
            steps = gr.Slider(5, 200, value=50, step=1, label="Fast sampler steps")
            model = gr.Radio(["Diffusion", "TransformerMDN (baseline)"], value="Diffusion", label="Model")
            instrument = gr.Dropdown(list(GM_PROGRAMS), value="Acoustic Grand Piano", label="Instrument")
            tempo = gr.Slider(40, 240, value=120, step=1, label="Tempo (BPM)")
            go_button = gr.Button("Generate", variant="primary")
        with gr.Column(scale=2):
            audio = gr.Audio(label="Melody", type="numpy", interactive=False)
            roll = gr.Plot(label="Piano roll")
            with gr.Row():
                midi_file = gr.File(label="MIDI")
                wav_file = gr.File(label="WAV")
    dice.click(lambda: int(np.random.default_rng().integers(0, 2**31 - 1)), None, seed)
    go_button.click(generate_melody, [bars, seed, sampler, steps, model, instrument, tempo],
                    [audio, roll, midi_file, wav_file])
    gr.Examples([[64, 0, "Fast (DDIM)", 50, "Diffusion", "Flute", 110],
                 [128, 7, "Fast (DDIM)", 50, "Diffusion", "Vibraphone", 96]],
                [bars, seed, sampler, steps, model, instrument, tempo])
