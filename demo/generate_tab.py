"""The "Generate" tab: sample a melody, see its piano roll, hear it, download MIDI and audio.

The page's Generate runs `generate_live`, a streaming handler: one progress bar (on the
piano roll) over sampling, writing the MIDI and rendering the audio; with "watch it denoise"
the roll shows the diffusion sampler's estimate of the melody while it samples; Stop ends
the sampling itself. Scripts call /generate (`generate_melodies`), which answers with the
piano roll and the MIDI only; requests that wait together in the queue are sampled in one
batched call (`batch=True`; `MelodyPipeline.generate_batch` groups them by their settings).
"""

from __future__ import annotations

import time
from typing import Iterator, Sequence

import gradio as gr
import numpy as np

from core.diffusion.samplers import default_steps
from core.limits import (
    APP_FAST_STEPS,
    AUDIO_WORK_PER_BAR,
    MAX_BARS,
    MAX_SEED,
    MAX_TEMPO_BPM,
    MDN_STEPS_EQUIVALENT,
    MIN_BARS,
    MIN_TEMPO_BPM,
    sampling_work,
    shown,
)
from core.music.forms import STYLE_FORM, letters
from core.music.midi_io import melody_to_pretty_midi
from core.pipeline import MelodyResult, join_chunks
from core.progress import SamplerProgress
from core.requests import DEFAULT_BARS, DEFAULT_GUIDANCE, DEFAULT_STYLE, GenerationRequest, RenderOptions, replaced
from demo.audition import GM_PROGRAMS, program_for
from demo.live_call import LiveCall
from demo.outputs import (
    HEAVY_WORK,
    MODEL_LABELS,
    SAMPLERS,
    SAMPLING_SHARE,
    STYLE_KEY,
    Refusal,
    diffusion_available,
    form_input,
    key_choice,
    key_input,
    model_name_of,
    phrasing_input,
    play_preview,
    progress_reporter,
    publish,
    publish_melody,
    refused_if_invalid,
    render_preview,
    sampler_choice,
    shared_pipeline,
    style_choice,
    style_inputs,
    whole_number,
)
from demo.roll_player import RollPlayer, roll_value, scroll_to_roll_js, with_audio
from demo.sharing import settings_file, settings_from_file, settings_from_query, settings_of, settings_query

WATCH_FRAMES = 10  # estimates shown while sampling, with "watch it denoise"
WATCH_FRAME_S = 0.25  # at least this long each
HEARTBEAT_S = 0.5  # longest time a live generation goes without yielding (Stop takes effect at a yield)
MAX_BATCH = 8  # /generate requests sampled in one call
MAX_VARIATIONS = 4  # more seeds "Variations and the baseline" may draw, beside the other model's take
GENERATE_DEFAULTS = {"bars": DEFAULT_BARS, "seed": 0, "sampler": SAMPLERS[0], "steps": None, "model": MODEL_LABELS[0],
                     "instrument": "Acoustic Grand Piano", "tempo": 120, "style": DEFAULT_STYLE, "guidance": DEFAULT_GUIDANCE,
                     "phrasing": True, "key": STYLE_KEY, "form": STYLE_FORM}
GENERATE_INPUTS = tuple(GENERATE_DEFAULTS)  # the order of /generate's inputs: a result's settings


def generation_request(bars: float = DEFAULT_BARS, seed: float = 0, sampler: str = SAMPLERS[0],
                       steps: float | None = None, model: str = MODEL_LABELS[0],
                       instrument: str = "Acoustic Grand Piano", tempo: float = 120, style: str = DEFAULT_STYLE,
                       guidance: float = DEFAULT_GUIDANCE, phrasing: bool = True,
                       key: str = STYLE_KEY, form: str = STYLE_FORM) -> GenerationRequest:
    """The widgets' values as a request, or a gr.Error that says which value to change."""
    if model not in MODEL_LABELS:
        raise Refusal(f"Unknown model {shown(model)}; choose one of: {', '.join(MODEL_LABELS)}.")
    sampler_name, steps_value = sampler_choice(sampler, steps)
    return refused_if_invalid(GenerationRequest.of, bars=bars, seeds=(seed,), model=model_name_of(model),
                              sampler=sampler_name, steps=steps_value, tempo_bpm=tempo,
                              program=program_for(instrument), phrasing=phrasing, form=form, **key_choice(key),
                              **style_choice(style, guidance))


def generation_work(request: GenerationRequest, audio: bool) -> int:
    """What sampling the request's melodies (and with `audio`, rendering them) asks: `core.limits.sampling_work`."""
    sampling = request.sampling
    steps = (MDN_STEPS_EQUIVALENT if sampling.model == "mdn"
             else sampling.steps or default_steps(sampling.sampler, shared_pipeline().schedule))
    melodies = len(sampling.seeds)
    return sampling_work(steps, request.bars, melodies) + (AUDIO_WORK_PER_BAR * request.bars * melodies if audio else 0)


def check_generation(data: Sequence) -> int:
    """The queue's check of one /generate request's raw inputs (in GENERATE_INPUTS order) before it
    may join a batch: a gr.Error for a bad value, so that it cannot fail the requests batched with
    it. Returns the request's work."""
    return generation_work(generation_request(**{**GENERATE_DEFAULTS, **dict(zip(GENERATE_INPUTS, data))}), audio=False)


def check_live_generation(data: Sequence) -> int:
    """The queue's check of the page's Generate (GENERATE_INPUTS, then "watch"): its work, audio included."""
    return generation_work(generation_request(*data[:len(GENERATE_INPUTS)]), audio=True)


def check_variations(data: Sequence) -> int:
    """The queue's check of "Draw them" (GENERATE_INPUTS, then count and baseline): the work of all its melodies."""
    request = generation_request(*data[:len(GENERATE_INPUTS)])
    count, baseline = (list(data[len(GENERATE_INPUTS):]) + [MAX_VARIATIONS, True])[:2]
    melodies = whole_number(count, "Variations", 1, MAX_VARIATIONS) + bool(baseline)
    return generation_work(request, audio=True) * melodies


def generate_melodies(bars: list, seed: list, sampler: list, steps: list, model: list, instrument: list,
                      tempo: list, style: list, guidance: list, phrasing: list, key: list,
                      form: list) -> tuple[list, ...]:
    """Batch handler of the API's /generate: each argument holds one value per request (see
    `generation_request`). Returns lists of (RollPlayer value, MIDI path, the settings as a URL
    query, the settings JSON path)."""
    values = list(zip(bars, seed, sampler, steps, model, instrument, tempo, style, guidance, phrasing, key, form))
    requests = [generation_request(*request_values) for request_values in values]
    outputs = []
    for request_values, request, (result,) in zip(values, requests, shared_pipeline().generate_batch(requests)):
        roll, midi_path, _preview = publish(result, request.render, f"melody-{result.seed}",
                                            result_title(request, result))
        settings = settings_of(dict(zip(GENERATE_INPUTS, request_values)))
        outputs.append((roll, midi_path, settings_query(settings), settings_file(settings)))
    return tuple(list(column) for column in zip(*outputs))


def result_title(request: GenerationRequest, result: MelodyResult) -> str:
    form = f", form {''.join(letters(result.form))}" if any(result.form) else ""
    return f"{request.bars} bars, {request.sampling.style}, seed {result.seed}, {request.sampling.model}{form}"


def generate_live(bars: float = DEFAULT_BARS, seed: float = 0, sampler: str = SAMPLERS[0],
                  steps: float | None = None, model: str = MODEL_LABELS[0],
                  instrument: str = "Acoustic Grand Piano", tempo: float = 120, style: str = DEFAULT_STYLE,
                  guidance: float = DEFAULT_GUIDANCE, phrasing: bool = True, key: str = STYLE_KEY,
                  form: str = STYLE_FORM, watch: bool = False, preview_format: str | None = None,
                  progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:
    """The page's Generate: one melody, with one progress bar over sampling, writing and audio.

    Yields tuples of (RollPlayer value, MIDI path, melody tokens for the Infill tab, audio path,
    settings as a URL query, settings JSON path), gr.skip() where a value is unchanged:
    - with `watch` (diffusion only), the melody as estimated at every WATCH_FRAMES-th sampler
      step while sampling runs, shown at least WATCH_FRAME_S apart;
    - nothing new at least every HEARTBEAT_S meanwhile, so that Stop can end the run (the
      sampler then stops at its next step);
    - the result with its MIDI and settings; then the result playing its audio (as `preview_format`,
      `demo.outputs.render_preview`).
    """
    values = (bars, seed, sampler, steps, model, instrument, tempo, style, guidance, phrasing, key, form)
    request = generation_request(*values)
    pipeline = shared_pipeline()
    sampling = request.sampling
    total_steps = sampling.steps or default_steps(sampling.sampler, pipeline.schedule)
    frame_every = max(1, total_steps // WATCH_FRAMES) if watch and sampling.model == "diffusion" else 0
    live = LiveCall(lambda callback: pipeline.generate(request, callback)[0])
    unchanged = (gr.skip(),) * 5
    estimates: list[SamplerProgress] = []  # x0 estimates to show, oldest first
    last_yield = last_frame = time.monotonic()
    report = progress_reporter(progress)
    try:
        for update in live.updates():
            if update is not None:
                report(update)
                if frame_every and (update.done % frame_every == 0 or update.done == update.total):
                    estimates.append(update)
            now = time.monotonic()
            if estimates and now - last_frame >= WATCH_FRAME_S:
                yield estimate_roll(estimates.pop(0), request), *unchanged
                last_yield = last_frame = now
            elif now - last_yield >= HEARTBEAT_S:
                yield gr.skip(), *unchanged
                last_yield = now
    finally:
        live.cancel()  # stops the sampler when Stop closed this generator
    for estimate in estimates:  # the ones sampling outran
        time.sleep(max(0.0, WATCH_FRAME_S - (time.monotonic() - last_frame)))
        yield estimate_roll(estimate, request), *unchanged
        last_frame = time.monotonic()
    result = live.result
    progress(SAMPLING_SHARE, desc="Writing the MIDI file")
    roll, midi_path, preview = publish(result, request.render, f"melody-{result.seed}", result_title(request, result))
    settings = settings_of(dict(zip(GENERATE_INPUTS, values)))
    yield roll, midi_path, result.melody, None, settings_query(settings), settings_file(settings)
    playing, audio_path = play_preview(preview, roll, preview_format, progress)
    yield playing, gr.skip(), gr.skip(), audio_path, gr.skip(), gr.skip()


def rerender_result(melody: np.ndarray | None, roll: dict | None, query: str | None, instrument: str,
                    tempo: float, preview_format: str | None = None, progress: gr.Progress = gr.Progress()) -> tuple:
    """The user changed Instrument or Tempo: the result on the page made again into MIDI, score and
    audio at the new settings, without sampling again. Returns (RollPlayer value playing the new
    audio, MIDI path, audio path, settings as a URL query, settings JSON path); nothing changes
    while there is no result yet."""
    settings = settings_from_query(query or "")
    if melody is None or not (roll or {}).get("bars") or settings is None:
        return (gr.skip(),) * 5
    render = refused_if_invalid(RenderOptions, tempo_bpm=tempo, program=program_for(instrument))
    settings = {**settings, "instrument": instrument, "tempo": tempo}
    midi = melody_to_pretty_midi(melody, render.tempo_bpm, render.program)
    redrawn, midi_path, preview = publish_melody(melody, midi, render.tempo_bpm, f"melody-{settings['seed']}",
                                                 roll.get("title", ""), sections=roll.get("sections", ()))
    playing, audio_path = play_preview(preview, redrawn, preview_format, progress)
    return playing, midi_path, audio_path, settings_query(settings), settings_file(settings)


def estimate_roll(update: SamplerProgress, request: GenerationRequest) -> dict:
    """The RollPlayer value of the sampler's (1, K, D) x0 estimate after `update.done` steps."""
    pipeline = shared_pipeline()
    chunks, rests = pipeline.decode(update.x0[0], noise_level=pipeline.sampled_noise_level)
    return roll_value(join_chunks(chunks, rests), request.render.tempo_bpm,
                      title=f"denoising: the melody as estimated after step {update.done} of {update.total}")


def variations_and_baseline(bars: float = DEFAULT_BARS, seed: float = 0, sampler: str = SAMPLERS[0],
                            steps: float | None = None, model: str = MODEL_LABELS[0],
                            instrument: str = "Acoustic Grand Piano", tempo: float = 120,
                            style: str = DEFAULT_STYLE, guidance: float = DEFAULT_GUIDANCE, phrasing: bool = True,
                            key: str = STYLE_KEY, form: str = STYLE_FORM, count: float = MAX_VARIATIONS,
                            baseline: bool = True, preview_format: str | None = None) -> tuple:
    """`count` (1 to MAX_VARIATIONS) more seeds (seed + 1, ...) with the same settings, sampled in one
    batched call, and with `baseline` the same seed from the other model (diffusion <-> TransformerMDN).

    Returns (MAX_VARIATIONS variation RollPlayer values, each playing its audio, then the baseline's,
    then the MIDI paths in the same order); None where a slot is not asked for."""
    request = generation_request(bars, seed, sampler, steps, model, instrument, tempo, style, guidance, phrasing, key,
                                 form)
    how_many = whole_number(count, "Variations", 1, MAX_VARIATIONS)
    sampling = request.sampling
    first = sampling.seeds[0]
    seeds = tuple((first + offset) % (MAX_SEED + 1) for offset in range(1, how_many + 1))
    other = "mdn" if sampling.model == "diffusion" else "diffusion"
    pipeline = shared_pipeline()
    results = [*pipeline.generate(replaced(request, seeds=seeds)), *[None] * (MAX_VARIATIONS - how_many),
               *(pipeline.generate(replaced(request, model=other)) if baseline else [None])]
    models = [sampling.model] * MAX_VARIATIONS + [other]
    rolls, midi_paths = [], []
    for result, model_name in zip(results, models):
        if result is None:
            rolls.append(None)
            midi_paths.append(None)
            continue
        model_label = MODEL_LABELS[1] if model_name == "mdn" else "diffusion"
        roll, midi_path, preview = publish(result, request.render, f"variation-{result.seed}",
                                           f"seed {result.seed}, {model_label}")
        rolls.append(with_audio(roll, render_preview(preview, preview_format)))
        midi_paths.append(midi_path)
    return (*rolls, *midi_paths)


def variation_slots(count: float, baseline: bool) -> list:
    """The slots of "Variations and the baseline" shown for `count` variations and the baseline or not."""
    shown = [index < count for index in range(MAX_VARIATIONS)] + [bool(baseline)]
    return [gr.update(visible=visible) for visible in shown]


def random_seed() -> int:
    return int(np.random.default_rng().integers(0, MAX_SEED))


def sampling_controls(model: str, sampler: str) -> tuple:
    """The sampler, its steps and "watch it denoise" are usable only for the diffusion model, and the
    step count only for the fast sampler."""
    diffusion = model_name_of(model) == "diffusion"
    return (gr.update(interactive=diffusion), gr.update(interactive=diffusion and sampler == SAMPLERS[0]),
            gr.update(interactive=diffusion))


def apply_settings(settings: dict) -> tuple:
    """The controls set to replayed settings, in GENERATE_INPUTS order."""
    return tuple(settings[name] for name in GENERATE_INPUTS)


def replay_query(query: str) -> tuple:
    """Handler of the hidden replay button that the page presses when its address holds settings."""
    settings = settings_from_query(query or "")
    if settings is None:
        raise Refusal("The address holds no settings to replay.")
    return apply_settings(settings)


def replay_file(path: str | None) -> tuple:
    return apply_settings(settings_from_file(path))


# a run starts: the last result goes at once, and the piano roll (where the progress bar and the
# result appear) scrolls into view if it is not (on a phone it lies below the controls)
START_RUN_JS = scroll_to_roll_js("generated-roll", 4)
SHARE_JS = "(query) => { if (query) history.replaceState(null, '', location.pathname + '?' + query); }"
# the page's address holds the result's settings (SHARE_JS): the button copies it and says so
COPY_LINK_JS = """() => {
  const button = document.querySelector('#copy-link');
  const say = (text) => {
    button.textContent = text;
    setTimeout(() => { button.textContent = 'Copy link to this result'; }, 2000);
  };
  if (!location.search) { say('Generate a melody first'); return; }
  navigator.clipboard.writeText(location.href).then(() => say('Link copied'), () => say('Copy the address bar'));
}"""


def build_generate_tab(last_melody: gr.State, preview_format: gr.Textbox) -> gr.Button | None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context. Each generation is stored in
    `last_melody` for the Infill tab; its audio is rendered in the page's `preview_format`
    (`demo.outputs.preview_format_input`). Returns the "Infill this" button (None without a diffusion model)."""
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
            key = key_input("key")
            form = form_input("form")
            with gr.Accordion("Advanced", open=False, elem_id="generate-advanced"):
                guidance.render()
                sampler = gr.Radio(SAMPLERS, value=SAMPLERS[0], label="Sampler",
                                   info="Fast: 20 steps of DPM-Solver++, a fraction of a second; the paper's "
                                        "DDPM takes 1000 steps, several seconds")
                steps = gr.Slider(*APP_FAST_STEPS, value=default_steps("fast", shared_pipeline().schedule), step=1,
                                  label="Fast sampler steps", info="more steps, slower and a little closer to DDPM")
                phrasing = phrasing_input("phrasing")
                model.render()
                watch = gr.Checkbox(value=False, label="Watch it denoise", elem_id="watch",
                                    info="see the model's estimate of the melody change from pure noise to the "
                                         "end while it samples")
                replay_upload = gr.UploadButton("Replay a settings file", file_types=[".json"], size="sm")
            url_replay = gr.Button("replay the address", elem_id="url-replay", elem_classes=["trigger-only"])
            api_generate = gr.Button("generate for the API", visible=False)
            share_query = gr.Textbox(visible=False)
        with gr.Column(scale=2):
            roll = RollPlayer(elem_id="generated-roll")
            with gr.Row():
                midi_file = gr.File(label="MIDI", elem_id="generated-midi")
                audio_file = gr.File(label="Audio preview", elem_id="generated-audio")
                settings_download = gr.File(label="Settings (replay them here)")
            with gr.Row():
                infill_this = gr.Button("Infill this melody", elem_id="infill-this")
                copy_link = gr.Button("Copy link to this result", elem_id="copy-link")
            with gr.Accordion("Variations and the baseline", open=False):
                with gr.Row():
                    count = gr.Slider(1, MAX_VARIATIONS, value=MAX_VARIATIONS, step=1, label="More seeds",
                                      info="seed + 1, seed + 2, ... with the same settings, in one batched call")
                    baseline = gr.Checkbox(value=True, label="And this seed from the other model",
                                           info="diffusion beside the paper's TransformerMDN baseline")
                more_button = gr.Button("Draw them", elem_id="variations")
                slots, more_rolls, more_midis = [], [], []
                for first in range(0, MAX_VARIATIONS + 1, 2):  # two slots a row; the baseline's is the last
                    with gr.Row():
                        for index in range(first, min(first + 2, MAX_VARIATIONS + 1)):
                            with gr.Column(min_width=280) as slot:
                                more_rolls.append(RollPlayer(elem_id=f"variation-{index}"))
                                more_midis.append(gr.File(label="MIDI", min_width=80))
                            slots.append(slot)
    dice.click(random_seed, None, seed, api_visibility="private")
    for control in (model, sampler):
        control.change(sampling_controls, [model, sampler], [sampler, steps, watch], api_visibility="private",
                       queue=False)
    inputs = {"bars": bars, "seed": seed, "sampler": sampler, "steps": steps, "model": model, "instrument": instrument,
              "tempo": tempo, "style": style, "guidance": guidance, "phrasing": phrasing, "key": key, "form": form}
    ordered = [inputs[name] for name in GENERATE_INPUTS]
    api_generate.click(generate_melodies, ordered, [roll, midi_file, share_query, settings_download], batch=True,
                       max_batch_size=MAX_BATCH, api_name="generate", **HEAVY_WORK)
    start = {"fn": None, "inputs": None, "outputs": [roll, midi_file, audio_file, settings_download],
             "js": START_RUN_JS, "queue": False}
    live = {"fn": generate_live, "inputs": [*ordered, watch, preview_format],
            "outputs": [roll, midi_file, last_melody, audio_file, share_query, settings_download],
            "show_progress_on": [roll], "api_visibility": "private", **HEAVY_WORK}
    running = [go_button.click(**start).then(**live)]
    for trigger, handler, source in ((url_replay.click, replay_query, share_query), (replay_upload.upload,
                                                                                     replay_file, replay_upload)):
        # queued, so that a link or file that cannot be replayed shows its gr.Error message on the page
        replayed = trigger(handler, source, ordered, api_visibility="private", show_progress="hidden",
                           js="(query) => location.search" if handler is replay_query else None)
        running.append(replayed.success(**start).then(**live))
    fast_steps = default_steps("fast", shared_pipeline().schedule)
    examples = gr.Examples(
        [[DEFAULT_STYLE, DEFAULT_GUIDANCE, DEFAULT_BARS, 0, SAMPLERS[0], fast_steps, MODEL_LABELS[0], "Flute", 110, True,
          True],
         [DEFAULT_STYLE, DEFAULT_GUIDANCE, DEFAULT_BARS, 0, SAMPLERS[0], fast_steps, MODEL_LABELS[1], "Flute", 110, True,
          False],
         ["renaissance", DEFAULT_GUIDANCE, 64, 7, SAMPLERS[0], 50, MODEL_LABELS[0], "Church Organ", 80, True, False]],
        [style, guidance, bars, seed, sampler, steps, model, instrument, tempo, phrasing, watch],
        label="Examples: click one to hear it (it sets every control, the advanced ones included)",
        example_labels=["A folk tune on the flute, watching it denoise", "The same seed from the TransformerMDN baseline",
                        "64 bars of Renaissance polyphony's top line, on the organ"])
    running.append(examples.load_input_event.then(**start).then(**live))
    share_query.change(None, share_query, None, js=SHARE_JS)
    copy_link.click(None, None, None, js=COPY_LINK_JS)
    redraw = {"fn": rerender_result, "inputs": [last_melody, roll, share_query, instrument, tempo, preview_format],
              "outputs": [roll, midi_file, audio_file, share_query, settings_download], "show_progress_on": [roll],
              "api_visibility": "private", **HEAVY_WORK}
    instrument.input(**redraw)  # the user's own changes only: a replayed link sets them and then generates
    tempo.release(**redraw)
    stop_button.click(None, None, None, cancels=running, queue=False)
    for control in (count, baseline):
        control.change(variation_slots, [count, baseline], slots, api_visibility="private", queue=False)
    more_button.click(variations_and_baseline, [*ordered, count, baseline, preview_format], [*more_rolls, *more_midis],
                      api_name="variations", **HEAVY_WORK)
    return infill_this
