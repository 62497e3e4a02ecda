"""The committed demo bundle: fixed numbers for fixed seeds, and one melody whatever the entry point.

Regression values in the style of diffusers' slow tests: for seed 0, four values of one latent
and 32 melody tokens of a DDIM, a DPM-Solver++, a DDPM, a TransformerMDN, a windowed and an
infilled sample are pinned, so a change in the samplers, the pipeline or the models shows up
here. Retraining the demo models changes them: `python -m tests.test_committed_bundle` prints
the new PINNED.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.bundle import DEFAULT_MODEL_DIR
from core.cli.generate import main as generate_cli
from core.data.melody_cache import MelodyCache
from core.music.keys import best_tonic, melody_pitches, parse_key, transpose_to_key
from core.music.melody import has_notes, pitch_to_token, split_into_chunks
from core.music.midi_io import extract_melodies, load_midi_file, pretty_midi_to_bytes
from core.music.musicality import bar_contours, contour_similarity, musicality, notes_in_each_scale
from core.music.outlines import chunk_outlines, seam_intervals
from core.pipeline import MelodyPipeline, MelodyResult, seam_fit
from core.requests import DEFAULT_BARS, GenerationRequest, InfillRequest, replaced
from eval_lab.heldout_sample import BUNDLED_SAMPLE_DIR, sample_paths
from tests.app_calls import generate_one
from train.presets import DEMO_OUTLINE_FINE_TUNES, preset

pytestmark = pytest.mark.slow  # samples the committed models, DDPM and windowed sampling included

SCALE_TUNE = np.zeros(16 * 16, np.int8)  # 16 bars of quarter notes up and down a C major scale
SCALE_TUNE[::4] = [pitch_to_token(60 + [0, 2, 4, 5, 7, 9, 11, 12][abs((i % 14) - 7)]) for i in range(64)]
PIN_REQUESTS = {  # name: (request, the latent and the 32 steps pinned), all seed 0, folk, guidance 2
    "ddim": (GenerationRequest.of(bars=16, sampler="ddim"), 0, 0),
    "dpmpp_2m": (GenerationRequest.of(bars=16, sampler="dpmpp_2m"), 0, 0),
    "ddpm": (GenerationRequest.of(bars=4, sampler="ddpm"), 1, 32),
    "mdn": (GenerationRequest.of(bars=16, model="mdn"), 3, 96),
    "windowed": (GenerationRequest.of(bars=80, windowed=True, steps=10), 39, 78 * 16),
    "infill": (InfillRequest.of(melody=SCALE_TUNE, bars_to_regenerate=((5, 8),), steps=10), 2, 4 * 16),
}
SLOW_PINS = {"ddpm", "windowed"}
PINNED = {
    'ddim': ([-0.3135, -0.0182, 0.0506, 0.2626],
        [0, 0, 0, 0, 0, 0, 50, 0, 0, 0, 50, 0, 55, 0, 54, 0, 55, 0, 0, 0, 55, 0, 55, 0, 55, 0, 50, 0, 50, 0, 0, 0]),
    'dpmpp_2m': ([-0.3073, -0.0196, 0.0561, 0.2472],
        [0, 0, 0, 0, 0, 0, 50, 0, 0, 0, 50, 0, 55, 0, 54, 0, 55, 0, 0, 0, 57, 0, 55, 0, 55, 0, 50, 0, 50, 0, 50, 0]),
    'ddpm': ([-0.3065, 0.0037, -0.1602, -0.544],
        [57, 0, 0, 0, 0, 0, 55, 0, 57, 0, 0, 0, 57, 0, 55, 0, 59, 0, 0, 0, 60, 0, 59, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
    'mdn': ([-0.3827, 0.2268, -0.1793, -0.1943],
        [50, 0, 0, 0, 0, 0, 0, 0, 47, 0, 48, 0, 47, 0, 52, 0, 57, 0, 0, 0, 57, 0, 0, 54, 50, 0, 0, 0, 54, 0, 54, 55]),
    'windowed': ([0.0759, 0.0078, -0.1155, -0.2503],
        [45, 0, 0, 0, 47, 0, 0, 45, 47, 0, 0, 0, 45, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    'infill': ([-0.1222, 0.1875, 0.1697, -0.3248],
        [53, 0, 0, 0, 52, 0, 0, 0, 50, 0, 0, 0, 48, 0, 0, 0, 46, 0, 0, 0, 45, 0, 0, 0, 43, 0, 0, 0, 41, 0, 0, 0]),
}


def pinned_sample(pipeline: MelodyPipeline, name: str) -> tuple[list[float], list[int]]:
    """Four values of the pinned latent and the 32 pinned tokens of PIN_REQUESTS[name]."""
    request, latent, step = PIN_REQUESTS[name]
    make = pipeline.infill if isinstance(request, InfillRequest) else pipeline.generate
    result: MelodyResult = make(request)[0]
    return result.latents[latent, :4].tolist(), result.melody[step : step + 32].tolist()


@pytest.fixture(scope="module")
def pipeline(committed_pipeline):
    return committed_pipeline


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_PINS else name
                                  for name in PIN_REQUESTS])
def test_a_fixed_seed_gives_the_pinned_latents_and_tokens(pipeline, name):
    latents, tokens = pinned_sample(pipeline, name)
    torch.testing.assert_close(torch.tensor(latents), torch.tensor(PINNED[name][0]), atol=1e-4, rtol=0)
    assert tokens == PINNED[name][1]


def test_the_cli_the_app_and_the_pipeline_make_the_same_midi(pipeline, tmp_path):
    (result,) = pipeline.generate(GenerationRequest.of(bars=16, seeds=(11,), program=73, tempo_bpm=110.0))
    expected = pretty_midi_to_bytes(result.midi)
    generate_cli(["--bars", "16", "--seed", "11", "--program", "73", "--tempo", "110", "--out",
                  str(tmp_path / "cli.mid")])
    assert (tmp_path / "cli.mid").read_bytes() == expected
    _roll, midi_path, *_ = generate_one(16, 11, "Fast", 20, "Diffusion", "Flute", 110)
    assert Path(midi_path).read_bytes() == expected


@pytest.mark.parametrize("name, model_field, training_field", [
    ("vae", "vae", "vae_training"), ("diffusion", "denoiser", "diffusion_training"), ("mdn", "mdn", "mdn_training"),
    ("outline", "outline", "outline_training")])
def test_the_demo_preset_is_what_the_committed_models_were_trained_with(name, model_field, training_field):
    stored = json.loads((DEFAULT_MODEL_DIR / f"{name}.json").read_text())
    demo = preset("demo")
    model_config = dataclasses.asdict(getattr(demo, model_field))
    if "styles" in model_config:  # the data decide the labels of the sequence models, the codec their dims
        model_config["styles"] = "chorale,classical,folk,other,renaissance"
    if name in ("diffusion", "mdn"):
        model_config["data_dims"] = stored["config"]["data_dims"]
    assert stored["config"] == model_config
    training = getattr(demo, training_field)
    if name == "vae":  # its last run trained the decoder alone for sampled latents (train/presets.py)
        training = dataclasses.replace(training, freeze_encoder=True, latent_noise=0.1)
    training = dataclasses.replace(training, **DEMO_OUTLINE_FINE_TUNES.get(name, {}))  # their last runs read outlines
    assert stored["train_config"] == dataclasses.asdict(training)
    assert stored["step"] == training.steps


def test_every_style_and_any_make_32_bars_from_the_command_line_and_guidance_0_ignores_the_style(pipeline,
                                                                                                tmp_path):
    assert pipeline.styles() == ("chorale", "classical", "folk", "other", "renaissance")
    written = {}
    for style in (*pipeline.styles(), "any"):
        generate_cli(["--bars", "32", "--style", style, "--seed", "0", "--out", str(tmp_path / f"{style}.mid")])
        (line,) = extract_melodies(load_midi_file(tmp_path / f"{style}.mid"))
        assert line.melody.size <= 32 * 16 and has_notes(line.melody)
        written[style] = (tmp_path / f"{style}.mid").read_bytes()
    assert len(set(written.values())) == len(written), "each style makes its own melody"
    generate_cli(["--bars", "32", "--style", "folk", "--guidance", "0", "--seed", "0", "--out",
                  str(tmp_path / "unconditional.mid")])
    assert (tmp_path / "unconditional.mid").read_bytes() == written["any"]


def test_default_folk_melodies_keep_their_key_and_fill_their_bars(pipeline):
    """What a listener hears first: the app's defaults (folk, 32 bars, guidance 2) on 8 seeds."""
    results = pipeline.generate(GenerationRequest.of(seeds=tuple(range(8))))
    assert all(result.melody.size == DEFAULT_BARS * 16 for result in results)
    scores = musicality([result.melody for result in results])
    assert scores["in_scale_share"] >= 0.93
    assert scores["silent_bar_share"] <= 0.1
    assert 4.0 <= scores["notes_per_bar"] <= 9.0
    assert scores["leap_share"] <= 0.1
    assert scores["transposed_pattern_share"] >= 0.2, "they restate phrases, drawn with real tunes' forms (real: 0.35)"
    for result in results:  # a phrase comes right after itself only where the tune's form says so
        chunks = split_into_chunks(result.melody)
        assert not any(np.array_equal(chunks[i], chunks[i - 1]) and has_notes(chunks[i]) and result.form[i] != 1
                       for i in range(1, len(chunks)))
        restated = [i for i, lag in enumerate(result.form) if lag > 0]
        assert all(np.array_equal(chunks[i], chunks[i - result.form[i]]) for i in restated), "note for note"
    echoes, free = [], []  # per bar, its contour's similarity to the bar it echoes (4 or 8 bars back), or 4 back
    for result in results:
        contours = bar_contours(result.melody)
        for index, lag in enumerate(result.form):
            back = -lag if lag < 0 else 2 if lag == 0 and index >= 2 else 0
            for bar in (2 * index, 2 * index + 1) if back else ():
                (echoes if lag < 0 else free).append(contour_similarity(contours[bar], contours[bar - 2 * back]))
    assert np.nanmean(echoes) >= 0.3 and np.nanmean(echoes) >= np.nanmean(free) + 0.2, "echoes follow their shapes"


def test_renaissance_lines_join_their_phrases_as_drawn_and_keep_their_key(pipeline):
    """64-bar renaissance lines on 8 seeds, drawn after their outlines: few intervals leap past a
    fifth (real voice parts: 1.5%; 10.7% before the outlines), across the seams between 2-bar
    phrases too, within a voice's range, in their key; nothing is shaped after sampling."""
    request = GenerationRequest.of(bars=64, style="renaissance", seeds=tuple(range(8)))
    drawn = [result.melody for result in pipeline.generate(request)]
    scores = musicality(drawn)
    assert scores["leap_share"] <= 0.05 and scores["in_scale_share"] >= 0.95 and scores["pitch_range"] <= 19
    seams = np.concatenate([seam_intervals(chunk_outlines(split_into_chunks(melody))) for melody in drawn])
    assert np.mean(np.abs(seams) > 7) <= 0.12
    unshaped = [result.melody for result in pipeline.generate(replaced(request, phrasing=False))]
    assert all(np.array_equal(a, b) for a, b in zip(drawn, unshaped)), "renaissance is left as drawn"


def heldout_melody(style: str, bars: int) -> np.ndarray:
    """The first `bars` bars of the first track of `style` in the held-out sample shipped with the model."""
    cache = MelodyCache.load(sample_paths(BUNDLED_SAMPLE_DIR)[1])
    track = next(track for track in np.flatnonzero(cache.track_styles() == style)
                 if cache.track_melody(track).size >= bars * 16)
    return cache.track_melody(track)[: bars * 16]


def test_infilled_folk_bars_restate_kept_phrases_note_for_note_and_every_kept_bar_stays(pipeline):
    melody = heldout_melody("folk", 32)
    request = InfillRequest.of(melody=melody, bars_to_regenerate=((9, 24),), seeds=(0, 1, 2, 3), style="folk")
    original = split_into_chunks(melody)  # (16, 32)
    kept = np.r_[0:4, 12:16]
    for phrasing, least, most in ((True, 1, 32), (False, 0, 0)):
        copies = 0
        for result in pipeline.infill(replaced(request, phrasing=phrasing)):
            chunks = split_into_chunks(result.melody)
            assert np.array_equal(chunks[kept], original[kept])
            copies += sum((chunks[i] == original[kept]).all(axis=1).any() for i in range(4, 12))
        assert least <= copies <= most, f"phrasing={phrasing}: {copies} regenerated chunks play a kept one"


def test_infilled_renaissance_bars_meet_the_kept_ones_as_drawn(pipeline):
    melody = heldout_melody("renaissance", 64)
    request = InfillRequest.of(melody=melody, bars_to_regenerate=((17, 48),), seeds=(0, 1, 2, 3), style="renaissance")
    infilled = [result.melody for result in pipeline.infill(request)]
    for result in infilled:
        assert np.array_equal(result[: 16 * 16], melody[: 16 * 16]) and np.array_equal(result[48 * 16 :],
                                                                                          melody[48 * 16 :])
    assert musicality(infilled)["leap_share"] <= 0.05
    regenerate = np.zeros(32, dtype=bool)
    regenerate[8:24] = True
    assert np.mean([seam_fit(result, regenerate) for result in infilled]) >= 0.5, "the new bars meet the kept ones"


def test_a_requested_key_is_the_best_fitting_scale_of_every_melody(pipeline, tmp_path):
    for key, tonic in (("D", 2), ("Eb", 3), ("A", 9)):
        for result in pipeline.generate(GenerationRequest.of(bars=16, seeds=(0, 1, 2), key=key)):
            in_each_scale = notes_in_each_scale(melody_pitches(result.melody))  # (12,)
            assert in_each_scale[tonic] == in_each_scale.max(), "a best-fitting scale (a tune without the 4th "\
                "or the 7th fits the scale a fifth away as well)"
    generate_cli(["--bars", "16", "--key", "D", "--out", str(tmp_path / "d.mid")])
    (line,) = extract_melodies(load_midi_file(tmp_path / "d.mid"))
    assert best_tonic(melody_pitches(line.melody)) == 2


def test_an_upload_in_e_flat_is_infilled_in_e_flat_with_every_kept_note_identical(pipeline):
    melody = transpose_to_key(heldout_melody("folk", 16), parse_key("Eb"))
    request = InfillRequest.of(melody=melody, bars_to_regenerate=((5, 8),), seeds=(0, 1, 2), style="folk")
    original = split_into_chunks(melody)
    for result in pipeline.infill(request):
        chunks = split_into_chunks(result.melody)
        assert np.array_equal(chunks[[0, 1, 4, 5, 6, 7]], original[[0, 1, 4, 5, 6, 7]])
        assert best_tonic(melody_pitches(result.melody)) == 3
        new_notes = melody_pitches(chunks[2:4].reshape(-1))
        assert np.isin(new_notes % 12, [3, 5, 7, 8, 10, 0, 2]).mean() >= 0.85, "the new bars are in E-flat too"


if __name__ == "__main__":  # print PINNED for the committed bundle
    committed = MelodyPipeline(DEFAULT_MODEL_DIR)
    print("PINNED = {")
    for pin in PIN_REQUESTS:
        values, steps = pinned_sample(committed, pin)
        print(f"    {pin!r}: ({[round(value, 4) for value in values]},\n        {steps}),")
    print("}")
