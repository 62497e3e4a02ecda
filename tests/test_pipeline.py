"""Specification of the user-facing pipeline and its command lines, on a tiny untrained model."""

import numpy as np
import pytest
import torch

from core.checkpoint import save_checkpoint
from core.denoiser import DenoiserConfig, TransformerDenoiser
from core.generate import main as generate_cli
from core.infill import main as infill_cli
from core.latents import LatentCodec
from core.mdn import MDNConfig, TransformerMDN
from core.melody import melody_from_notes, split_into_chunks
from core.midi_io import extract_melodies, load_midi_file, pretty_midi_to_bytes, melody_to_pretty_midi
from core.pipeline import MelodyPipeline, chunk_mask_for_bars, join_chunks, parse_bar_ranges
from core.vae import MusicVAE, VAEConfig


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """VAE, codec, diffusion and MDN checkpoints of tiny random networks."""
    directory = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    vae_config = VAEConfig(encoder_size=16, decoder_size=16, decoder_layers=1, z_size=8)
    vae = MusicVAE(vae_config).eval()
    save_checkpoint(directory, "vae", vae, vae_config, 1)
    chunks = torch.as_tensor(split_into_chunks(melody_from_notes(np.arange(0, 320, 4), np.arange(4, 324, 4),
                                                                 60 + np.arange(80) % 12)), dtype=torch.long)
    mu, sigma = vae.encode(chunks)
    LatentCodec.fit(mu, sigma, sigma_threshold=1.0).save(directory)
    dims = int((sigma.mean(0) < 1.0).sum())
    diffusion_config = DenoiserConfig(data_dims=dims, model_dims=16, layers=1, heads=2, transformer_mlp_dims=16,
                                      mlp_dims=16, film_dims=16)
    save_checkpoint(directory, "diffusion", TransformerDenoiser(diffusion_config), diffusion_config, 1)
    mdn_config = MDNConfig(data_dims=dims, model_dims=16, layers=1, heads=2, transformer_mlp_dims=16, mlp_dims=16,
                           components=2)
    save_checkpoint(directory, "mdn", TransformerMDN(mdn_config), mdn_config, 1)
    return directory


@pytest.fixture(scope="module")
def pipeline(model_dir):
    return MelodyPipeline(model_dir)


def test_generate_returns_the_requested_bars_also_past_the_training_length(pipeline):
    for bars, windowed in ((8, False), (96, False), (80, True)):
        result = pipeline.generate(bars=bars, seed=1, steps=3, windowed=windowed)
        assert result.melody.shape == (bars * 16,)
        assert result.latents.shape[0] == bars // 2
        assert result.midi.instruments[0].program == 0


def test_same_seed_gives_identical_midi_bytes(pipeline):
    a = pipeline.generate(bars=8, seed=3, steps=4, program=40)
    b = pipeline.generate(bars=8, seed=3, steps=4, program=40)
    assert pretty_midi_to_bytes(a.midi) == pretty_midi_to_bytes(b.midi)
    assert np.array_equal(pipeline.generate(bars=8, seed=4, model="mdn").melody,
                          pipeline.generate(bars=8, seed=4, model="mdn").melody)


def test_infill_keeps_the_unmasked_bars_note_for_note(pipeline):
    melody = melody_from_notes(np.arange(0, 256, 8), np.arange(6, 262, 8), 60 + np.arange(32) % 7)  # 16 bars
    result = pipeline.infill(melody, (5, 12), seed=0, steps=5, resample=1)
    assert result.regenerated.tolist() == [False, False, True, True, True, True, False, False]
    assert np.array_equal(result.melody[: 4 * 16], melody[: 4 * 16])
    assert np.array_equal(result.melody[12 * 16 :], melody[12 * 16 :])
    assert torch.equal(result.latents[~torch.from_numpy(result.regenerated)],
                       pipeline.encode(split_into_chunks(melody))[~torch.from_numpy(result.regenerated)])


def test_rest_chunks_are_silent_when_joined():
    chunks = np.zeros((3, 32), np.int8)
    chunks[0, 0] = 41  # a note held to the end of chunk 0
    joined = join_chunks(chunks, np.array([False, True, False]))
    assert joined[32] == 1, "the rest chunk ends the held note"
    assert join_chunks(chunks, np.array([False, False, True]))[64] == 1, "held through chunk 1, ended by chunk 2"
    chunks[0, 10] = 1
    assert not join_chunks(chunks, np.array([False, True, True]))[32:].any(), "nothing sounds: no stray NOTE_OFF"
    assert not join_chunks(np.zeros((2, 32), np.int8), np.array([True, True])).any()


@pytest.mark.parametrize("bars, message", [(0, "positive even"), (7, "positive even"), (2048, "at most 1024")])
def test_bad_bar_counts_are_rejected(pipeline, bars, message):
    with pytest.raises(ValueError, match=message):
        pipeline.generate(bars=bars)


@pytest.mark.parametrize("bar_range, message", [((0, 4), "1 <= first <= last"), ((9, 4), "1 <= first <= last"),
                                                 ((3, 40), "reach past the melody's 16 bars"),
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
        with pytest.raises(ValueError, match="FIRST-LAST|name the bars"):
            parse_bar_ranges(text)


def test_several_ranges_that_cover_everything_are_rejected():
    with pytest.raises(ValueError, match="nothing known is left"):
        chunk_mask_for_bars([(1, 4), (5, 8)], 4)


@pytest.mark.parametrize("method", ["interpolation", "prior"])
def test_baseline_infilling_keeps_the_unmasked_bars(pipeline, method):
    melody = pipeline.generate(bars=16, seed=3, steps=5).melody
    result = pipeline.infill(melody, [(3, 4), (11, 12)], seed=0, method=method)
    assert result.regenerated.tolist() == [False, True, False, False, False, True, False, False]
    kept = np.repeat(~result.regenerated, 32)
    assert np.array_equal(result.melody[kept], melody[kept])
    assert len(result.melody) == len(melody)


def test_unknown_infill_method_is_rejected(pipeline):
    melody = pipeline.generate(bars=8, seed=3, steps=5).melody
    with pytest.raises(ValueError, match="diffusion, interpolation, prior"):
        pipeline.infill(melody, (3, 4), method="magic")


def test_infilling_a_silent_melody_is_rejected(pipeline):
    with pytest.raises(ValueError, match="no notes"):
        pipeline.infill(np.zeros(64, np.int8), (1, 2))


def test_generate_and_infill_command_lines_write_midi_and_audio(model_dir, tmp_path):
    generate_cli(["--bars", "8", "--seed", "0", "--steps", "3", "--out", str(tmp_path / "a.mid"),
                  "--wav", str(tmp_path / "a.wav"), "--model-dir", str(model_dir)])
    assert (tmp_path / "a.wav").stat().st_size > 44
    source = melody_to_pretty_midi(melody_from_notes(np.arange(0, 256, 8), np.arange(6, 262, 8), [64] * 32))
    (tmp_path / "in.mid").write_bytes(pretty_midi_to_bytes(source))
    infill_cli(["--midi", str(tmp_path / "in.mid"), "--bars", "5-8", "--steps", "3", "--out", str(tmp_path / "b.mid"),
                "--model-dir", str(model_dir)])
    (out,) = extract_melodies(load_midi_file(tmp_path / "b.mid"))
    (original,) = extract_melodies(load_midi_file(tmp_path / "in.mid"))
    assert np.array_equal(out.melody[:64], original.melody[:64]), "bars 1-4 kept"
    assert np.array_equal(out.melody[128:], original.melody[128:]), "bars 9-16 kept"


def test_command_lines_explain_bad_requests(model_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        generate_cli(["--bars", "7", "--out", str(tmp_path / "a.mid"), "--model-dir", str(model_dir)])
    assert "positive even number" in capsys.readouterr().err
    (tmp_path / "drums.mid").write_bytes(b"not midi")
    with pytest.raises(SystemExit):
        infill_cli(["--midi", str(tmp_path / "drums.mid"), "--bars", "1-2", "--out", str(tmp_path / "b.mid"),
                    "--model-dir", str(model_dir)])
    assert "not a Standard MIDI File" in capsys.readouterr().err
