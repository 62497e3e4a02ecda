"""The "Generate" tab: sample a melody, hear it, see its piano roll, download MIDI and audio.

With "watch it denoise" the piano roll first replays the diffusion sampler's x0 estimates,
from pure noise to the final melody, then the audio arrives.
"""

from __future__ import annotations

import time
from typing import Iterator

import gradio as gr
import numpy as np

from core.limits import MAX_BARS, MAX_SEED, MAX_TEMPO_BPM, MIN_BARS, MIN_TEMPO_BPM
from core.pipeline import DEFAULT_BARS, DEFAULT_GUIDANCE, DEFAULT_STYLE, GenerationRequest, join_chunks
from core.samplers import default_steps
from demo.audition import GM_PROGRAMS
from demo.outputs import (
    HEAVY_WORK,
    SAMPLERS,
    checked_tempo,
    diffusion_available,
    progress_reporter,
    publish,
    sampler_choice,
    shared_pipeline,
    style_choice,
    MODEL_LABELS,
    model_name_of,
    style_inputs,
    whole_number,
)
from demo.piano_roll import piano_roll

WATCH_FRAMES = 10
WATCH_FRAME_S = 0.25


def program_for(instrument: str) -> int:
    if instrument not in GM_PROGRAMS:
        raise gr.Error(f"Unknown instrument {instrument!r}; choose one of: {', '.join(GM_PROGRAMS)}.")
    return GM_PROGRAMS[instrument]


def generate_melody(bars: float = DEFAULT_BARS, seed: float = 0, sampler: str = SAMPLERS[0],
                    steps: float | None = None, model: str = MODEL_LABELS[0], instrument: str = "Acoustic Grand Piano",
                    tempo: float = 120, watch: bool = False, style: str = DEFAULT_STYLE,
                    guidance: float = DEFAULT_GUIDANCE, progress=gr.Progress()) -> Iterator[tuple]:
    """Yields (audio, piano roll, MIDI path, audio path, melody tokens for the Infill tab).

    With `watch`, earlier yields carry only the piano roll of an intermediate x0 estimate.
    """
    pipeline = shared_pipeline()
    bars_count = whole_number(bars, "Bars", MIN_BARS, MAX_BARS)
    seed_value = whole_number(seed, "Seed", 0, MAX_SEED)
    sampler_name, steps_value = sampler_choice(sampler, steps)
    model_name = model_name_of(model)
    program, tempo_bpm = program_for(instrument), checked_tempo(tempo)
    styled = style_choice(style, guidance)
    total_steps = steps_value or default_steps(sampler_name, pipeline.schedule)
    try:
        request = GenerationRequest(bars=bars_count, seeds=(seed_value,), model=model_name, sampler=sampler_name,
                                    steps=steps_value, tempo_bpm=tempo_bpm, program=program, **styled,
                                    keep_every=max(1, total_steps // WATCH_FRAMES) if watch else 0)
        result = pipeline.generate(request, progress_reporter(progress, "sampling"))[0]
    except ValueError as error:
        raise gr.Error(str(error)) from error
    for t, x0 in result.intermediates:
        chunks, rests = pipeline.decode(x0)
        figure = piano_roll(join_chunks(chunks, rests), title=f"denoising: x0 estimate at reverse step {t}")
        yield gr.skip(), figure, gr.skip(), gr.skip(), gr.skip()
        time.sleep(WATCH_FRAME_S)
    audio, figure, midi_path, audio_path = publish(result, f"melody-{seed_value}",
                                                 f"{bars_count} bars, {style}, seed {seed_value}, {model_name}")
    yield audio, figure, midi_path, audio_path, result.melody


def random_seed() -> int:
    return int(np.random.default_rng().integers(0, MAX_SEED))


def build_generate_tab(last_melody: gr.State) -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context. Each generation
    is stored in `last_melody` for the Infill tab."""
    if not diffusion_available():
        gr.Markdown("The diffusion model has not been trained into `demo/model` yet.")
        return
    model = gr.Radio(MODEL_LABELS, value=MODEL_LABELS[0], label="Model", render=False)
    with gr.Row():
        with gr.Column(scale=1):
            style, guidance = style_inputs(model)
            bars = gr.Slider(MIN_BARS, MAX_BARS, value=DEFAULT_BARS, step=2,
                             label=f"Bars (the model trained on up to 64; up to {MAX_BARS})")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                dice = gr.Button("Random seed", scale=0, elem_id="dice")
            sampler = gr.Radio(SAMPLERS, value=SAMPLERS[0], label="Sampler")
            steps = gr.Slider(5, 200, value=default_steps("fast", shared_pipeline().schedule), step=1,
                                  label="Fast sampler steps (DPM-Solver++)")
            model.render()
            instrument = gr.Dropdown(list(GM_PROGRAMS), value="Acoustic Grand Piano", label="Instrument")
            tempo = gr.Slider(MIN_TEMPO_BPM, MAX_TEMPO_BPM, value=120, step=1, label="Tempo (BPM)")
            watch = gr.Checkbox(value=False, label="Watch it denoise (diffusion)")
            go_button = gr.Button("Generate", variant="primary", elem_id="generate")
        with gr.Column(scale=2):
            audio = gr.Audio(label="Melody", type="filepath", interactive=False, elem_id="generated-audio")
            roll = gr.Plot(label="Piano roll (dotted lines: 2-bar latents)", elem_id="generated-roll")
            with gr.Row():
                midi_file = gr.File(label="MIDI")
                audio_file = gr.File(label="Audio (Ogg Vorbis)")
    dice.click(random_seed, None, seed, api_visibility="private")
    go_button.click(generate_melody, [bars, seed, sampler, steps, model, instrument, tempo, watch, style, guidance],
                    [audio, roll, midi_file, audio_file, last_melody], api_name="generate", **HEAVY_WORK)
    fast_steps = default_steps("fast", shared_pipeline().schedule)
    gr.Examples([[DEFAULT_STYLE, DEFAULT_GUIDANCE, DEFAULT_BARS, 0, SAMPLERS[0], fast_steps, MODEL_LABELS[0], "Flute", 110,
                  True],
                 [DEFAULT_STYLE, DEFAULT_GUIDANCE, DEFAULT_BARS, 0, SAMPLERS[0], fast_steps, MODEL_LABELS[1], "Flute", 110,
                  False],
                 ["renaissance", DEFAULT_GUIDANCE, 64, 7, SAMPLERS[0], 50, MODEL_LABELS[0], "Church Organ", 80, False]],
                [style, guidance, bars, seed, sampler, steps, model, instrument, tempo, watch])
