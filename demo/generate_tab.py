"""The "Generate" tab: sample a melody, see its piano roll, hear it, download MIDI and audio.

Requests to /generate that wait together in the queue are sampled in one batched call
(`batch=True`; `MelodyPipeline.generate_batch` groups them by their sampling settings). The
first answer is the piano roll and the MIDI file; the audio preview is rendered next, as a
step of its own. With "watch it denoise" the piano roll first replays the diffusion
sampler's x0 estimates, from pure noise to the final melody.
"""

from __future__ import annotations

import time
from typing import Iterator, Sequence

import gradio as gr
import numpy as np

from core.limits import MAX_BARS, MAX_SEED, MAX_TEMPO_BPM, MIN_BARS, MIN_TEMPO_BPM
from core.pipeline import DEFAULT_BARS, DEFAULT_GUIDANCE, DEFAULT_STYLE, GenerationRequest, join_chunks
from core.samplers import default_steps
from demo.audition import GM_PROGRAMS
from demo.outputs import (
    HEAVY_WORK,
    MODEL_LABELS,
    SAMPLERS,
    checked_tempo,
    diffusion_available,
    model_name_of,
    play_preview,
    publish,
    sampler_choice,
    shared_pipeline,
    style_choice,
    style_inputs,
    whole_number,
)
from demo.roll_player import RollPlayer, roll_value

WATCH_FRAMES = 10
WATCH_FRAME_S = 0.25
MAX_BATCH = 8  # /generate requests sampled in one call
GENERATE_DEFAULTS = {"bars": DEFAULT_BARS, "seed": 0, "sampler": SAMPLERS[0], "steps": None, "model": MODEL_LABELS[0],
                     "instrument": "Acoustic Grand Piano", "tempo": 120, "watch": False, "style": DEFAULT_STYLE,
                     "guidance": DEFAULT_GUIDANCE}
GENERATE_INPUTS = tuple(GENERATE_DEFAULTS)  # the order of /generate's inputs


def program_for(instrument: str) -> int:
    if instrument not in GM_PROGRAMS:
        raise gr.Error(f"Unknown instrument {instrument!r}; choose one of: {', '.join(GM_PROGRAMS)}.")
    return GM_PROGRAMS[instrument]


def generation_request(bars: float = DEFAULT_BARS, seed: float = 0, sampler: str = SAMPLERS[0],
                       steps: float | None = None, model: str = MODEL_LABELS[0],
                       instrument: str = "Acoustic Grand Piano", tempo: float = 120, watch: bool = False,
                       style: str = DEFAULT_STYLE, guidance: float = DEFAULT_GUIDANCE) -> GenerationRequest:
    """The widgets' values as a request, or a gr.Error that says which value to change."""
    pipeline = shared_pipeline()
    if model not in MODEL_LABELS:
        raise gr.Error(f"Unknown model {model!r}; choose one of: {', '.join(MODEL_LABELS)}.")
    sampler_name, steps_value = sampler_choice(sampler, steps)
    total_steps = steps_value or default_steps(sampler_name, pipeline.schedule)
    try:
        return GenerationRequest(bars=whole_number(bars, "Bars", MIN_BARS, MAX_BARS),
                                 seeds=(whole_number(seed, "Seed", 0, MAX_SEED),), model=model_name_of(model),
                                 sampler=sampler_name, steps=steps_value, tempo_bpm=checked_tempo(tempo),
                                 program=program_for(instrument), **style_choice(style, guidance),
                                 keep_every=max(1, total_steps // WATCH_FRAMES) if watch else 0)
    except ValueError as error:
        raise gr.Error(str(error)) from error


def check_generation(data: Sequence) -> None:
    """The queue's check of one /generate request's raw inputs (in GENERATE_INPUTS order) before it
    may join a batch: a gr.Error for a bad value, so that it cannot fail the requests batched with it."""
    generation_request(**{**GENERATE_DEFAULTS, **dict(zip(GENERATE_INPUTS, data))})


def generate_melodies(bars: list, seed: list, sampler: list, steps: list, model: list, instrument: list,
                      tempo: list, watch: list, style: list, guidance: list) -> tuple[list, ...]:
    """Batch handler of /generate: each argument holds one value per request (see `generation_request`).

    Returns lists of (RollPlayer value, MIDI path, melody tokens for the Infill tab, AudioPreview,
    denoising frames [RollPlayer value, ...] ending with the final melody, or [] unless watched).
    A watched request's piano roll starts at the first frame.
    """
    requests = [generation_request(*values)
                for values in zip(bars, seed, sampler, steps, model, instrument, tempo, watch, style, guidance)]
    pipeline = shared_pipeline()
    outputs = []
    for request, (result,) in zip(requests, pipeline.generate_batch(requests)):
        title = f"{request.bars} bars, {request.style}, seed {result.seed}, {request.model}"
        roll, midi_path, preview = publish(result, request, f"melody-{result.seed}", title)
        frames = []
        for t, x0 in result.intermediates:
            chunks, rests = pipeline.decode(x0)
            frames.append(roll_value(join_chunks(chunks, rests), request.tempo_bpm,
                                     title=f"denoising: the melody as estimated at step {t}"))
        if frames:
            frames.append(roll)
        outputs.append((frames[0] if frames else roll, midi_path, result.melody, preview, frames))
    return tuple(list(column) for column in zip(*outputs))


def replay_denoising(frames: list[dict]) -> Iterator:
    """Step after a watched generation: each frame's roll in turn (unchanged when unwatched)."""
    if not frames:
        yield gr.skip()
    for index, frame in enumerate(frames):
        if index:
            time.sleep(WATCH_FRAME_S)
        yield frame


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
            preview, frames = gr.State(None), gr.State([])
        with gr.Column(scale=2):
            roll = RollPlayer(elem_id="generated-roll")
            with gr.Row():
                midi_file = gr.File(label="MIDI")
                audio_file = gr.File(label="Audio (Ogg Vorbis)")
    dice.click(random_seed, None, seed, api_visibility="private")
    go_button.click(None, None, [roll, audio_file], js="() => [null, null]")  # the last result goes at once
    inputs = {"bars": bars, "seed": seed, "sampler": sampler, "steps": steps, "model": model, "instrument": instrument,
              "tempo": tempo, "watch": watch, "style": style, "guidance": guidance}
    first_answer = go_button.click(generate_melodies, [inputs[name] for name in GENERATE_INPUTS],
                                   [roll, midi_file, last_melody, preview, frames], api_name="generate",
                                   batch=True, max_batch_size=MAX_BATCH, **HEAVY_WORK)
    first_answer.success(replay_denoising, frames, roll, api_visibility="private", concurrency_limit=None,
                         show_progress="hidden") \
        .success(play_preview, [preview, roll], [roll, audio_file], api_visibility="private", **HEAVY_WORK)
    fast_steps = default_steps("fast", shared_pipeline().schedule)
    gr.Examples([[DEFAULT_STYLE, DEFAULT_GUIDANCE, DEFAULT_BARS, 0, SAMPLERS[0], fast_steps, MODEL_LABELS[0], "Flute", 110,
                  True],
                 [DEFAULT_STYLE, DEFAULT_GUIDANCE, DEFAULT_BARS, 0, SAMPLERS[0], fast_steps, MODEL_LABELS[1], "Flute", 110,
                  False],
                 ["renaissance", DEFAULT_GUIDANCE, 64, 7, SAMPLERS[0], 50, MODEL_LABELS[0], "Church Organ", 80, False]],
                [style, guidance, bars, seed, sampler, steps, model, instrument, tempo, watch])
