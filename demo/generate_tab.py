"""The "Generate" tab: sample a melody, see its piano roll, hear it, download MIDI and audio.

Requests to /generate that wait together in the queue are sampled in one batched call
(`batch=True`; `MelodyPipeline.generate_batch` groups them by their sampling settings). The
first answer is the piano roll and the MIDI file; the audio preview is rendered next, as a
step of its own. With "watch it denoise" the piano roll first replays the diffusion
sampler's x0 estimates, from pure noise to the final melody.
"""

from __future__ import annotations

import dataclasses
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
    render_preview,
    sampler_choice,
    shared_pipeline,
    style_choice,
    style_inputs,
    whole_number,
)
from demo.roll_player import RollPlayer, roll_value, with_audio
from demo.sharing import settings_file, settings_from_file, settings_from_query, settings_of, settings_query

WATCH_FRAMES = 10
WATCH_FRAME_S = 0.25
MAX_BATCH = 8  # /generate requests sampled in one call
VARIATIONS = 3  # more seeds shown by "Variations and the baseline", beside the other model's take
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
    denoising frames [RollPlayer value, ...] ending with the final melody, or [] unless watched,
    the settings as a URL query, the settings JSON path). A watched request's piano roll starts
    at the first frame.
    """
    values = list(zip(bars, seed, sampler, steps, model, instrument, tempo, watch, style, guidance))
    requests = [generation_request(*request_values) for request_values in values]
    pipeline = shared_pipeline()
    outputs = []
    for request_values, request, (result,) in zip(values, requests, pipeline.generate_batch(requests)):
        settings = settings_of(dict(zip(GENERATE_INPUTS, request_values)))
        title = f"{request.bars} bars, {request.style}, seed {result.seed}, {request.model}"
        roll, midi_path, preview = publish(result, request, f"melody-{result.seed}", title)
        frames = []
        for t, x0 in result.intermediates:
            chunks, rests = pipeline.decode(x0)
            frames.append(roll_value(join_chunks(chunks, rests), request.tempo_bpm,
                                     title=f"denoising: the melody as estimated at step {t}"))
        if frames:
            frames.append(roll)
        outputs.append((frames[0] if frames else roll, midi_path, result.melody, preview, frames,
                        settings_query(settings), settings_file(settings)))
    return tuple(list(column) for column in zip(*outputs))


def replay_denoising(frames: list[dict]) -> Iterator:
    """Step after a watched generation: each frame's roll in turn (unchanged when unwatched)."""
    if not frames:
        yield gr.skip()
    for index, frame in enumerate(frames):
        if index:
            time.sleep(WATCH_FRAME_S)
        yield frame


def variations_and_baseline(bars: float = DEFAULT_BARS, seed: float = 0, sampler: str = SAMPLERS[0],
                            steps: float | None = None, model: str = MODEL_LABELS[0],
                            instrument: str = "Acoustic Grand Piano", tempo: float = 120, watch: bool = False,
                            style: str = DEFAULT_STYLE, guidance: float = DEFAULT_GUIDANCE) -> tuple:
    """VARIATIONS more seeds (seed + 1, ...) with the same settings, sampled in one batched call, and the
    same seed from the other model (diffusion <-> TransformerMDN), side by side.

    Returns (VARIATIONS + 1 RollPlayer values, each playing its audio, then their MIDI paths)."""
    request = generation_request(bars, seed, sampler, steps, model, instrument, tempo, False, style, guidance)
    first = request.seeds[0]
    seeds = tuple((first + offset) % (MAX_SEED + 1) for offset in range(1, VARIATIONS + 1))
    other = "mdn" if request.model == "diffusion" else "diffusion"
    pipeline = shared_pipeline()
    results = [*pipeline.generate(dataclasses.replace(request, seeds=seeds)),
               *pipeline.generate(dataclasses.replace(request, model=other))]
    models = [request.model] * VARIATIONS + [other]
    rolls, midi_paths = [], []
    for result, model_name in zip(results, models):
        roll, midi_path, preview = publish(result, request, f"variation-{result.seed}",
                                           f"seed {result.seed}, {MODEL_LABELS[1] if model_name == 'mdn' else 'diffusion'}")
        rolls.append(with_audio(roll, render_preview(preview)))
        midi_paths.append(midi_path)
    return (*rolls, *midi_paths)


def random_seed() -> int:
    return int(np.random.default_rng().integers(0, MAX_SEED))


def sampling_controls(model: str, sampler: str) -> tuple:
    """The sampler, its steps and "watch it denoise" are usable only for the diffusion model, and the
    step count only for the fast sampler."""
    diffusion = model_name_of(model) == "diffusion"
    return (gr.update(interactive=diffusion), gr.update(interactive=diffusion and sampler == SAMPLERS[0]),
            gr.update(interactive=diffusion))


def apply_settings(settings: dict) -> tuple:
    """The controls set to replayed settings, in GENERATE_INPUTS order ("watch" off)."""
    return tuple(False if name == "watch" else settings[name] for name in GENERATE_INPUTS)


def replay_query(query: str) -> tuple:
    """Handler of the hidden replay button that the page presses when its address holds settings."""
    settings = settings_from_query(query or "")
    if settings is None:
        raise gr.Error("The address holds no settings to replay.")
    return apply_settings(settings)


def replay_file(path: str | None) -> tuple:
    return apply_settings(settings_from_file(path))


# after a first answer: the settings go into the address bar, and the result scrolls into view if it is not
SHARE_AND_SHOW_JS = """(query) => {
  if (query) history.replaceState(null, '', location.pathname + '?' + query);
  const roll = document.querySelector('#generated-roll');
  const top = roll ? roll.getBoundingClientRect().top : 0;
  if (roll && (top < 0 || top > window.innerHeight - 120)) roll.scrollIntoView({behavior: 'smooth', block: 'start'});
}"""


def build_generate_tab(last_melody: gr.State) -> gr.Button | None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context. Each generation is stored in
    `last_melody` for the Infill tab; returns the "Infill this" button (None without a diffusion model)."""
    if not diffusion_available():
        gr.Markdown("The diffusion model has not been trained into `demo/model` yet.")
        return None
    model = gr.Radio(MODEL_LABELS, value=MODEL_LABELS[0], label="Model", render=False,
                     info="the diffusion model of this project, or the paper's TransformerMDN baseline")
    with gr.Row():
        with gr.Column(scale=1):
            style, guidance = style_inputs(model, render_strength=False)
            bars = gr.Slider(MIN_BARS, MAX_BARS, value=DEFAULT_BARS, step=2,
                             label=f"Bars (the model trained on up to 64; up to {MAX_BARS})")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed",
                                 info="the same seed gives the same melody")
                dice = gr.Button("Random seed", scale=0, elem_id="dice")
            with gr.Row():
                go_button = gr.Button("Generate", variant="primary", elem_id="generate", scale=3)
                stop_button = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
            instrument = gr.Dropdown(list(GM_PROGRAMS), value="Acoustic Grand Piano", label="Instrument")
            tempo = gr.Slider(MIN_TEMPO_BPM, MAX_TEMPO_BPM, value=120, step=1, label="Tempo (BPM)")
            with gr.Accordion("Advanced", open=False, elem_id="generate-advanced"):
                guidance.render()
                sampler = gr.Radio(SAMPLERS, value=SAMPLERS[0], label="Sampler",
                                   info="Fast: 20 steps of DPM-Solver++, a fraction of a second; the paper's "
                                        "DDPM takes 1000 steps, several seconds")
                steps = gr.Slider(5, 200, value=default_steps("fast", shared_pipeline().schedule), step=1,
                                  label="Fast sampler steps", info="more steps, slower and a little closer to DDPM")
                model.render()
                watch = gr.Checkbox(value=False, label="Watch it denoise",
                                    info="replay the model's estimate of the melody from pure noise to the end")
                replay_upload = gr.UploadButton("Replay a settings file", file_types=[".json"], size="sm")
            preview, frames = gr.State(None), gr.State([])
            url_replay = gr.Button("replay the address", elem_id="url-replay", elem_classes=["trigger-only"])
            share_query = gr.Textbox(visible=False)
        with gr.Column(scale=2):
            roll = RollPlayer(elem_id="generated-roll")
            with gr.Row():
                midi_file = gr.File(label="MIDI", elem_id="generated-midi")
                audio_file = gr.File(label="Audio (Ogg Vorbis)")
                settings_download = gr.File(label="Settings (replay them here)")
            infill_this = gr.Button("Infill this melody", elem_id="infill-this")
            with gr.Accordion("Variations and the baseline", open=False):
                more_button = gr.Button("Three more seeds, and this seed from the other model", elem_id="variations")
                with gr.Row():
                    more_rolls = [RollPlayer(elem_id=f"variation-{index}") for index in range(2)]
                with gr.Row():
                    more_rolls += [RollPlayer(elem_id=f"variation-{index}") for index in range(2, VARIATIONS + 1)]
                with gr.Row():
                    more_midis = [gr.File(label=f"MIDI {index + 1}", min_width=80) for index in range(VARIATIONS + 1)]
    dice.click(random_seed, None, seed, api_visibility="private")
    for control in (model, sampler):
        control.change(sampling_controls, [model, sampler], [sampler, steps, watch], api_visibility="private",
                       queue=False)
    inputs = {"bars": bars, "seed": seed, "sampler": sampler, "steps": steps, "model": model, "instrument": instrument,
              "tempo": tempo, "watch": watch, "style": style, "guidance": guidance}
    ordered = [inputs[name] for name in GENERATE_INPUTS]
    first_answer_outputs = [roll, midi_file, last_melody, preview, frames, share_query, settings_download]
    generation = {"fn": generate_melodies, "inputs": ordered, "outputs": first_answer_outputs, "batch": True,
                  "max_batch_size": MAX_BATCH, **HEAVY_WORK}

    def finish(first_answer) -> None:
        """The steps after a first answer: share it, replay its denoising, render its audio."""
        first_answer.success(None, share_query, None, js=SHARE_AND_SHOW_JS)
        first_answer.success(replay_denoising, frames, roll, api_visibility="private", concurrency_limit=None,
                             show_progress="hidden") \
            .success(play_preview, [preview, roll], [roll, audio_file], api_visibility="private", **HEAVY_WORK)

    clear = {"fn": None, "inputs": None, "outputs": [roll, audio_file, settings_download],
             "js": "() => [null, null, null]"}  # the last result goes at once
    go_button.click(**clear)
    running = [go_button.click(**generation, api_name="generate")]
    for trigger, handler, source in ((url_replay.click, replay_query, share_query), (replay_upload.upload,
                                                                                     replay_file, replay_upload)):
        replayed = trigger(handler, source, ordered, api_visibility="private", queue=False,
                           js="(query) => location.search" if handler is replay_query else None)
        running.append(replayed.success(**generation, api_visibility="private"))
    fast_steps = default_steps("fast", shared_pipeline().schedule)
    examples = gr.Examples(
        [[DEFAULT_STYLE, DEFAULT_GUIDANCE, DEFAULT_BARS, 0, SAMPLERS[0], fast_steps, MODEL_LABELS[0], "Flute", 110, True],
         [DEFAULT_STYLE, DEFAULT_GUIDANCE, DEFAULT_BARS, 0, SAMPLERS[0], fast_steps, MODEL_LABELS[1], "Flute", 110,
          False],
         ["renaissance", DEFAULT_GUIDANCE, 64, 7, SAMPLERS[0], 50, MODEL_LABELS[0], "Church Organ", 80, False]],
        [style, guidance, bars, seed, sampler, steps, model, instrument, tempo, watch],
        label="Examples: click one to hear it (it sets every control, the advanced ones included)",
        example_labels=["A folk tune on the flute, watching it denoise", "The same seed from the TransformerMDN baseline",
                        "64 bars of Renaissance polyphony's top line, on the organ"])
    running.append(examples.load_input_event.then(**generation, api_visibility="private"))
    for first_answer in running:
        finish(first_answer)
    more_button.click(variations_and_baseline, ordered, [*more_rolls, *more_midis], api_name="variations",
                      **HEAVY_WORK)
    stop_button.click(None, None, None, cancels=running, queue=False)
    return infill_this
