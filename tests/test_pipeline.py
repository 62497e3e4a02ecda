"""Specification of the user-facing pipeline and its command lines, on a tiny untrained model."""

import dataclasses
import shutil

import numpy as np
import pytest
import soundfile
import torch

from core.bundle import VAE_ENCODER, encoder_sha256, read_manifest, record_component
from core.cli.generate import main as generate_cli
from core.cli.infill import main as infill_cli
from core.diffusion.schedule import NoiseSchedule
from core.music.forms import representatives, write_forms
from core.music.melody import melody_from_notes, split_into_chunks
from core.music.midi_io import extract_melodies, load_midi_file, melody_to_pretty_midi, pretty_midi_to_bytes
from core.music.notation import abc_text, musicxml_text
from core.music.outlines import COUNT, FIRST, LAST, OUTLINE_SILENT, OUTLINE_SLOTS, OUTLINE_UNKNOWN, chunk_outlines
from core.nets.checkpoint import save_checkpoint
from core.nets.codec import LatentCodec
from core.nets.denoiser import DenoiserConfig, TransformerDenoiser
from core.nets.mdn import MDNConfig, TransformerMDN
from core.nets.outline import OutlineConfig, OutlineModel
from core.nets.vae import MusicVAE, VAEConfig
from core.pipeline import MelodyPipeline, candidate_seeds, join_chunks, seam_fit
from core.requests import (
    GenerationRequest,
    InfillRequest,
    SamplingOptions,
    chunk_mask_for_bars,
    continuation,
    parse_bar_ranges,
    replaced,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A bundle of tiny random networks: VAE, codec, schedule, diffusion and MDN, with its manifest."""
    directory = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    vae_config = VAEConfig(encoder_size=16, decoder_size=16, decoder_layers=1, z_size=8)
    vae = MusicVAE(vae_config).eval()
    save_checkpoint(directory, "vae", vae, vae_config, 1)
    record_component(directory, "vae", {})
    encoder_sha = encoder_sha256(directory)
    chunks = torch.as_tensor(split_into_chunks(melody_from_notes(np.arange(0, 320, 4), np.arange(4, 324, 4),
                                                                 60 + np.arange(80) % 12)), dtype=torch.long)
    mu, sigma = vae.encode(chunks)
    LatentCodec.fit(mu, sigma, sigma_threshold=1.0).save(directory)
    latents_of = {VAE_ENCODER: encoder_sha, "codec": record_component(directory, "codec", {VAE_ENCODER: encoder_sha})}
    NoiseSchedule.linear().save(directory)
    schedule_sha = record_component(directory, "schedule", {})
    dims = int((sigma.mean(0) < 1.0).sum())
    diffusion_config = DenoiserConfig(data_dims=dims, model_dims=16, layers=1, heads=2, transformer_mlp_dims=16,
                                      mlp_dims=16, film_dims=16, styles="folk,renaissance")
    save_checkpoint(directory, "diffusion", TransformerDenoiser(diffusion_config), diffusion_config, 1)
    record_component(directory, "diffusion", {**latents_of, "schedule": schedule_sha})
    mdn_config = MDNConfig(data_dims=dims, model_dims=16, layers=1, heads=2, transformer_mlp_dims=16, mlp_dims=16,
                           components=2, styles="folk,renaissance")
    save_checkpoint(directory, "mdn", TransformerMDN(mdn_config), mdn_config, 1)
    record_component(directory, "mdn", latents_of)
    return directory


@pytest.fixture(scope="module")
def pipeline(model_dir):
    return MelodyPipeline(model_dir)


def generate_one(pipeline, **fields):
    return pipeline.generate(GenerationRequest.of(**fields))[0]


def test_generate_returns_the_requested_bars_also_past_the_training_length(pipeline):
    for bars, windowed in ((8, False), (96, False), (80, True)):
        result = generate_one(pipeline, bars=bars, seeds=(1,), steps=3, windowed=windowed)
        assert result.melody.shape == (bars * 16,)
        assert result.latents.shape[0] == bars // 2
        assert result.midi.instruments[0].program == 0


def test_same_seed_gives_identical_midi_bytes(pipeline):
    a = generate_one(pipeline, bars=8, seeds=(3,), steps=4, program=40)
    b = generate_one(pipeline, bars=8, seeds=(3,), steps=4, program=40)
    assert pretty_midi_to_bytes(a.midi) == pretty_midi_to_bytes(b.midi)
    assert np.array_equal(generate_one(pipeline, bars=8, seeds=(4,), model="mdn").melody,
                          generate_one(pipeline, bars=8, seeds=(4,), model="mdn").melody)


@pytest.mark.parametrize("fields", [dict(sampler="ddpm", steps=20), dict(sampler="ddim", steps=5),
                                    dict(sampler="dpmpp_2m", steps=5), dict(model="mdn"), dict(model="prior")])
def test_a_seed_gives_the_same_melody_alone_or_in_a_batch(pipeline, fields):
    batch = pipeline.generate(GenerationRequest.of(bars=8, seeds=(5, 6, 7), **fields))
    alone = generate_one(pipeline, bars=8, seeds=(6,), **fields)
    assert [result.seed for result in batch] == [5, 6, 7]
    assert np.array_equal(batch[1].melody, alone.melody)
    torch.testing.assert_close(batch[1].latents, alone.latents, atol=1e-5, rtol=0)
    assert not torch.equal(batch[0].latents, batch[1].latents)


def test_requests_generated_together_get_their_own_melodies_tempo_and_program(pipeline, monkeypatch):
    requests = [GenerationRequest.of(bars=8, seeds=(1, 2), steps=4, tempo_bpm=90),
                GenerationRequest.of(bars=8, seeds=(3,), steps=4, program=40),
                GenerationRequest.of(bars=4, seeds=(1,), steps=4),
                GenerationRequest.of(bars=8, seeds=(1,), steps=4, model="mdn")]
    sampled = []
    sample_latents = MelodyPipeline.sample_latents
    monkeypatch.setattr(MelodyPipeline, "sample_latents", lambda self, options, *args, **kwargs:
                        sampled.append(options.seeds) or sample_latents(self, options, *args, **kwargs))
    answers = pipeline.generate_batch(requests)
    monkeypatch.undo()
    assert sorted(sampled) == [(1,), (1,), (1, 2, 3)], "the first two requests share one sampler call"
    for request, results in zip(requests, answers):
        alone = pipeline.generate(request)
        assert [result.seed for result in results] == list(request.sampling.seeds)
        for together, single in zip(results, alone):
            assert np.array_equal(together.melody, single.melody)
            assert pretty_midi_to_bytes(together.midi) == pretty_midi_to_bytes(single.midi)


def test_infill_keeps_the_unmasked_bars_note_for_note(pipeline):
    melody = melody_from_notes(np.arange(0, 256, 8), np.arange(6, 262, 8), 60 + np.arange(32) % 7)  # 16 bars
    (result,) = pipeline.infill(InfillRequest.of(melody=melody, bars_to_regenerate=(5, 12), steps=5, resample=1,
                                              sampler="ddim"))
    assert result.regenerated.tolist() == [False, False, True, True, True, True, False, False]
    assert np.array_equal(result.melody[: 4 * 16], melody[: 4 * 16])
    assert np.array_equal(result.melody[12 * 16 :], melody[12 * 16 :])
    assert torch.equal(result.latents[~torch.from_numpy(result.regenerated)],
                       pipeline.encode(split_into_chunks(melody))[~torch.from_numpy(result.regenerated)])


def test_infill_keeps_the_best_joined_of_its_seam_candidates_on_one_progress_bar(pipeline):
    melody = melody_from_notes(np.arange(0, 256, 8), np.arange(6, 262, 8), 60 + np.arange(32) % 7)  # 16 bars
    request = InfillRequest.of(melody=melody, bars_to_regenerate=(5, 12), steps=4, seeds=(0, 1, 2), seam_candidates=4,
                               phrasing=False)  # judged as drawn
    updates = []
    chosen = pipeline.infill(request, updates.append)
    assert updates[-1].done == updates[-1].total == 4 * 4, "four draws of 4 steps, one bar"
    for seed, result in zip((0, 1, 2), chosen):
        alone = [pipeline.infill(replaced(request, seeds=candidate_seeds((seed,), draw), seam_candidates=1))[0]
                 for draw in range(4)]
        fits = [seam_fit(candidate.melody, request.regenerate) for candidate in alone]
        assert np.array_equal(result.melody, alone[int(np.argmax(fits))].melody), "the first of the best-joined"
        assert result.seed == seed
    assert candidate_seeds((7,), 0) == (7,) and candidate_seeds((7,), 1) == candidate_seeds((7,), 1) != (7,)


def test_a_continuation_keeps_the_whole_melody_and_adds_the_requested_bars_after_its_last_latent(pipeline):
    melody = melody_from_notes(np.arange(0, 80, 8), np.arange(6, 86, 8), 60 + np.arange(10) % 5)  # 6 bars
    request = continuation(melody, 8, steps=4, seeds=(0, 1))
    assert request.bars_to_regenerate == ((7, 14),), "after the 6 bars of its three 2-bar latents"
    for result in pipeline.infill(request):
        assert result.melody.size == 14 * 16
        assert np.array_equal(result.melody[: melody.size], melody)
        assert result.regenerated.tolist() == [False] * 3 + [True] * 4
    with pytest.raises(ValueError, match="Bars to add must be an even number"):
        continuation(melody, 3)
    long_melody = np.tile(melody[:96], 42)  # 252 bars
    assert continuation(long_melody, 4).extend_bars == 4, "256 bars in all: allowed"
    with pytest.raises(ValueError, match="258 bars long with the 6 new bars.*or add fewer bars"):
        continuation(long_melody, 6)


def test_rest_chunks_are_silent_when_joined():
    chunks = np.zeros((3, 32), np.int8)
    chunks[0, 0] = 41  # a note held to the end of chunk 0
    joined = join_chunks(chunks, np.array([False, True, False]))
    assert joined[32] == 1, "the rest chunk ends the held note"
    assert join_chunks(chunks, np.array([False, False, True]))[64] == 1, "held through chunk 1, ended by chunk 2"
    chunks[0, 10] = 1
    assert not join_chunks(chunks, np.array([False, True, True]))[32:].any(), "nothing sounds: no stray NOTE_OFF"
    assert not join_chunks(np.zeros((2, 32), np.int8), np.array([True, True])).any()


@pytest.mark.parametrize("bars, message", [(0, "Bars must be a whole number from 2 to 256, got 0"),
                                           (7, r"Bars must be an even number \(2-bar latents\)"),
                                           (258, "Bars must be a whole number from 2 to 256, got 258")])
def test_bad_bar_counts_are_rejected(bars, message):
    with pytest.raises(ValueError, match=message):
        GenerationRequest.of(bars=bars)


@pytest.mark.parametrize("fields, message", [
    (dict(seeds=()), "Seeds must be 1 to 64 seeds"), (dict(seeds=(-1,)), "Seed must be a whole number"),
    (dict(sampler="euler"), "Sampler must be one of"), (dict(model="gan"), "Model must be one of"),
    (dict(steps=0), "Steps must be a whole number from 1"),
    (dict(tempo_bpm=500.0), "Tempo must lie between 20 and 300 BPM, got 500[.]"),
    (dict(program=128), "Program \\(General MIDI instrument\\) must be a whole number from 0 to 127"),
    (dict(temperature=0.0), "Temperature must be above 0"),
    (dict(guidance=-1.0), r"Style strength \(guidance\) must lie between 0 and 10"),
    (dict(style=""), "Style must be a style label or 'any'")])
def test_requests_name_the_bad_field(fields, message):
    with pytest.raises(ValueError, match=message):
        GenerationRequest.of(**fields)


@pytest.mark.parametrize("model", ["diffusion", "mdn"])
def test_the_style_steers_both_models_and_guidance_0_ignores_it(pipeline, model):
    def latents(style, guidance):
        return generate_one(pipeline, bars=8, seeds=(2,), steps=4, model=model, style=style,
                            guidance=guidance).latents

    assert not torch.equal(latents("folk", 1.0), latents("renaissance", 1.0))
    assert torch.equal(latents("folk", 0.0), latents("renaissance", 0.0))
    assert torch.equal(latents("folk", 0.0), latents("any", 1.0)), "'any' is the unconditional model"
    with pytest.raises(ValueError, match="Style must be one of: folk, renaissance, any; got 'jazz'"):
        latents("jazz", 1.0)


@pytest.mark.parametrize("model", ["diffusion", "mdn"])
def test_a_style_form_that_echoes_draws_the_echo_anew_from_its_sources_noise(model_dir, tmp_path, model):
    def drawn(form):
        bundle = tmp_path / "".join(map(str, form))
        shutil.copytree(model_dir, bundle)
        write_forms(bundle, {"folk": [form]})
        (result,) = MelodyPipeline(bundle).generate(GenerationRequest.of(bars=8, seeds=(2,), steps=4, model=model))
        assert result.form == tuple(form)
        return result.latents

    free, echoed = drawn([0, 0, 0, 0]), drawn([0, 0, -2, 0])  # latent 2 echoes latent 0
    assert not torch.allclose(echoed[2], free[2]) and not torch.equal(echoed[2], echoed[0])
    if model == "mdn":  # drawn in order: what comes before the echo is drawn as without it
        assert torch.equal(echoed[:2], free[:2])


def test_a_bundle_trained_without_labels_defaults_to_any_and_explains_a_style(model_dir, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(model_dir, plain)
    config = dataclasses.replace(MelodyPipeline(model_dir).denoiser.config, styles="")  # as the paper preset trains
    save_checkpoint(plain, "diffusion", TransformerDenoiser(config), config, 1)
    record_component(plain, "diffusion", read_manifest(plain)["components"]["diffusion"]["fitted_on"])
    pipeline = MelodyPipeline(plain)
    assert pipeline.styles() == () and pipeline.default_style() == "any"
    generate_cli(["--bars", "4", "--steps", "2", "--out", str(tmp_path / "a.mid"), "--model-dir", str(plain)])
    (written,) = extract_melodies(load_midi_file(tmp_path / "a.mid"))
    assert written.melody.size == 4 * 16
    with pytest.raises(ValueError, match="trained without style labels: the style must be 'any', got 'folk'"):
        pipeline.generate(GenerationRequest.of(bars=4, steps=2))


def test_requests_are_keyword_only():
    with pytest.raises(TypeError):
        GenerationRequest.of(64)


@pytest.mark.parametrize("bar_range, message", [((0, 4), "Bars 0-4 cannot be regenerated: the melody has bars 1 to 16"),
                                                 ((9, 4), "1 <= FIRST <= LAST <= 16"),
                                                 ((3, 40), "the melody has bars 1 to 16"),
                                                 ((1, 16), "nothing known is left")])
def test_bad_infill_ranges_are_rejected(bar_range, message):
    with pytest.raises(ValueError, match=message):
        chunk_mask_for_bars(bar_range, 8)


def test_bar_ranges_round_outward_to_two_bar_latents():
    assert chunk_mask_for_bars((4, 5), 4).tolist() == [False, True, True, False]
    assert chunk_mask_for_bars([(1, 1), (7, 8)], 5).tolist() == [True, False, False, True, False]
    assert parse_bar_ranges("17-48") == [(17, 48)] and parse_bar_ranges("3") == [(3, 3)]
    assert parse_bar_ranges(" 5-8, 17-24 ;30") == [(5, 8), (17, 24), (30, 30)]
    for text in ("a-b", "1-2-3", "", " , "):
        with pytest.raises(ValueError, match="FIRST-LAST|Name the bars"):
            parse_bar_ranges(text)


def test_several_ranges_that_cover_everything_are_rejected():
    with pytest.raises(ValueError, match="nothing known is left"):
        chunk_mask_for_bars([(1, 4), (5, 8)], 4)


@pytest.mark.parametrize("method", ["interpolation", "prior"])
def test_baseline_infilling_keeps_the_unmasked_bars(pipeline, method):
    melody = generate_one(pipeline, bars=16, seeds=(3,), steps=5).melody
    (result,) = pipeline.infill(InfillRequest.of(melody=melody, bars_to_regenerate=((3, 4), (11, 12)), method=method))
    assert result.regenerated.tolist() == [False, True, False, False, False, True, False, False]
    kept = np.repeat(~result.regenerated, 32)
    assert np.array_equal(result.melody[kept], melody[kept])
    assert len(result.melody) == len(melody)


def test_unknown_infill_method_is_rejected(pipeline):
    melody = generate_one(pipeline, bars=8, seeds=(3,), steps=5).melody
    with pytest.raises(ValueError, match="diffusion, interpolation, prior"):
        InfillRequest.of(melody=melody, bars_to_regenerate=(3, 4), method="magic")


def test_infill_requests_use_the_diffusion_model():
    melody = melody_from_notes([0, 64], [8, 72], [60, 62])  # 6 bars
    with pytest.raises(ValueError, match="Infilling uses the diffusion model"):
        InfillRequest.of(melody=melody, bars_to_regenerate=(1, 2), model="mdn")


def test_infilling_a_silent_melody_is_rejected():
    with pytest.raises(ValueError, match="no notes"):
        InfillRequest.of(melody=np.zeros(64, np.int8), bars_to_regenerate=(1, 2))


def test_infilling_a_melody_longer_than_the_limit_is_rejected():
    melody = melody_from_notes([0], [8], [60])
    with pytest.raises(ValueError, match="infilling takes at most 256 bars"):
        InfillRequest.of(melody=np.tile(melody, 130), bars_to_regenerate=(1, 2))


def test_generate_and_infill_command_lines_write_midi_audio_and_notation(model_dir, tmp_path):
    generate_cli(["--bars", "8", "--seed", "0", "--steps", "3", "--style", "renaissance", "--guidance", "2",
                  "--out", str(tmp_path / "a.mid"), "--abc", str(tmp_path / "a.abc"),
                  "--musicxml", str(tmp_path / "a.musicxml"), "--tempo", "90",
                  "--wav", str(tmp_path / "a.wav"), "--model-dir", str(model_dir)])
    (generated,) = extract_melodies(load_midi_file(tmp_path / "a.mid"))
    assert (tmp_path / "a.abc").read_text() == abc_text(generated.melody, "a", 90)
    assert (tmp_path / "a.musicxml").read_text() == musicxml_text(generated.melody, "a", 90)
    samples, rate = soundfile.read(tmp_path / "a.wav")
    assert len(samples) / rate == pytest.approx(8 * 8 / 3, abs=1.5), "8 bars at 90 BPM, and the synth's release"
    assert np.abs(samples).max() > 0.01, "the notes sound"
    source = melody_to_pretty_midi(melody_from_notes(np.arange(0, 256, 8), np.arange(6, 262, 8), [64] * 32))
    (tmp_path / "in.mid").write_bytes(pretty_midi_to_bytes(source))
    infill_cli(["--midi", str(tmp_path / "in.mid"), "--bars", "5-8", "--steps", "3", "--out", str(tmp_path / "b.mid"),
                "--abc", str(tmp_path / "b.abc"), "--model-dir", str(model_dir)])
    body = [bar.strip() for bar in " ".join((tmp_path / "b.abc").read_text().splitlines()[6:]).split("|")]
    assert [index + 1 for index, bar in enumerate(body) if bar.startswith('"^new"')] == [5, 6, 7, 8]
    (out,) = extract_melodies(load_midi_file(tmp_path / "b.mid"))
    (original,) = extract_melodies(load_midi_file(tmp_path / "in.mid"))
    assert np.array_equal(out.melody[:64], original.melody[:64]), "bars 1-4 kept"
    assert np.array_equal(out.melody[128:], original.melody[128:]), "bars 9-16 kept"
    infill_cli(["--midi", str(tmp_path / "in.mid"), "--extend", "4", "--steps", "3", "--out", str(tmp_path / "c.mid"),
                "--model-dir", str(model_dir)])
    (longer,) = extract_melodies(load_midi_file(tmp_path / "c.mid"))
    assert np.array_equal(longer.melody[:original.melody.size], original.melody), "all 16 bars kept"
    assert longer.melody.size <= 20 * 16, "at most 4 bars more (trailing silence is not written)"


def test_command_lines_explain_bad_requests(model_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        generate_cli(["--bars", "7", "--out", str(tmp_path / "a.mid"), "--model-dir", str(model_dir)])
    assert "Bars must be an even number (2-bar latents) from 2 to 256, got 7." in capsys.readouterr().err
    (tmp_path / "drums.mid").write_bytes(b"not midi")
    with pytest.raises(SystemExit):
        infill_cli(["--midi", str(tmp_path / "drums.mid"), "--bars", "1-2", "--out", str(tmp_path / "b.mid"),
                    "--model-dir", str(model_dir)])
    assert "not a Standard MIDI File" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        infill_cli(["--midi", str(tmp_path / "drums.mid"), "--bars", "1-2", "--extend", "4", "--out", "b.mid"])
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.fixture(scope="module")
def outlined_pipeline(model_dir, tmp_path_factory):
    """The tiny bundle with an outline model and a diffusion model that reads outlines."""
    directory = tmp_path_factory.mktemp("outlined")
    shutil.copytree(model_dir, directory, dirs_exist_ok=True)
    torch.manual_seed(1)
    manifest = read_manifest(directory)["components"]
    config = DenoiserConfig(**{**manifest["diffusion"]["config"], "outline_conditioned": True})
    save_checkpoint(directory, "diffusion", TransformerDenoiser(config), config, 1)
    record_component(directory, "diffusion", manifest["diffusion"]["fitted_on"])
    outline_config = OutlineConfig(model_dims=16, layers=1, heads=2, transformer_mlp_dims=16, styles="folk,renaissance",
                                   tune_positions=True)
    save_checkpoint(directory, "outline", OutlineModel(outline_config), outline_config, 1)
    record_component(directory, "outline", manifest["mdn"]["fitted_on"])
    return MelodyPipeline(directory)


def test_a_bundle_with_an_outline_model_draws_the_outline_first_and_holds_every_chunk_to_it(outlined_pipeline):
    options = SamplingOptions(seeds=(0, 1), steps=3, form="AABB")
    latents, _, forms, outlines = outlined_pipeline.sample_latents(options, 16)
    assert outlines.shape == (2, 16, OUTLINE_SLOTS)
    assert bool((outlines[..., [FIRST, LAST]] != OUTLINE_UNKNOWN).all()), "told the pitches ..."
    assert bool((outlines[..., COUNT] == OUTLINE_UNKNOWN).all()), "... not the onset counts"
    for form, outline in zip(forms, outlines):
        assert torch.equal(outline, outline[list(representatives(form))]), "a restated phrase has its outline too"
        silent = outline[:, [FIRST, LAST]] == OUTLINE_SILENT
        assert (silent.all(dim=1) | ~silent.any(dim=1)).all(), "a chunk is silent at both ends or at neither"
    for melody, outline in zip(outlined_pipeline.decode_melodies(latents, 0.0, outlines), outlines):
        decoded = chunk_outlines(split_into_chunks(melody))
        sounding = (outline[:, FIRST] != OUTLINE_SILENT).numpy()
        assert decoded[sounding][:, [FIRST, LAST]].tolist() == outline.numpy()[sounding][:, [FIRST, LAST]].tolist()
        assert (decoded[~sounding] == OUTLINE_SILENT).all()
    _, _, _, again = outlined_pipeline.sample_latents(dataclasses.replace(options, seeds=(1,)), 16)
    assert torch.equal(again[0], outlines[1]), "a seed draws the same outline alone or in a batch"
    _, _, _, windowed = outlined_pipeline.sample_latents(options, 40, windowed=True)
    assert windowed.shape == (2, 40, OUTLINE_SLOTS), "a long melody's outline is drawn whole"


def test_infilling_draws_outlines_for_the_new_chunks_around_the_kept_ones(outlined_pipeline):
    melody = melody_from_notes(np.arange(0, 256, 8), np.arange(6, 262, 8), 60 + np.arange(32) % 7)  # 16 bars
    chunks = split_into_chunks(melody)
    regenerate = np.array([False, False, True, True, True, True, False, False])
    known = torch.from_numpy(chunk_outlines(chunks))
    _, outlines = outlined_pipeline.infill_latents(SamplingOptions(seeds=(0,), steps=3),
                                                   outlined_pipeline.encode(chunks), regenerate, known_outlines=known)
    kept = ~torch.from_numpy(regenerate)
    assert torch.equal(outlines[0, kept][:, [FIRST, LAST]], known[kept][:, [FIRST, LAST]])
    assert bool((outlines[..., [FIRST, LAST]] != OUTLINE_UNKNOWN).all())
    (result,) = outlined_pipeline.infill(InfillRequest.of(melody=melody, bars_to_regenerate=(5, 12), steps=3))
    assert np.array_equal(result.melody[: 4 * 16], melody[: 4 * 16])
