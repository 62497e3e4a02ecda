"""Specification of outlines: a chunk's first and last onset pitch, the model that draws them and
the decoding held to them (core.music.outlines, core.nets.outline, MusicVAE.decode)."""

import dataclasses

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from core.bundle import DEFAULT_MODEL_DIR as DEMO_MODEL
from core.music.constants import FIRST_NOTE_TOKEN, NO_EVENT, NOTE_OFF
from core.music.melody import pitch_to_token
from core.music.outlines import (
    COUNT,
    FIRST,
    LAST,
    OUTLINE_SILENT,
    OUTLINE_SLOTS,
    OUTLINE_UNKNOWN,
    chunk_outlines,
    seam_intervals,
)
from core.nets.checkpoint import load_weights_into
from core.nets.codec import LatentCodec
from core.nets.denoiser import DenoiserConfig, TransformerDenoiser
from core.nets.outline import OutlineConfig, OutlineModel, draw_outlines
from core.nets.vae import load_vae


def chunk(*notes: tuple[int, int]) -> np.ndarray:
    """A (32,) chunk with a note of each (step, pitch), held until the next."""
    tokens = np.full(32, NO_EVENT, dtype=np.int64)
    for step, pitch in notes:
        tokens[step] = pitch_to_token(pitch)
    return tokens


def test_an_outline_is_the_first_and_last_onset_and_the_onset_count_and_a_chunk_without_one_is_silent():
    held_in = chunk((6, 62), (12, 67), (28, 64))
    held_in[:6] = NO_EVENT  # a note held over from the chunk before is not an onset
    silent = np.full(32, NO_EVENT)
    silent[3] = NOTE_OFF
    outlines = chunk_outlines(np.stack([chunk((0, 60), (8, 64), (20, 67)), held_in, silent, chunk((16, 72))]))
    count = lambda n: FIRST_NOTE_TOKEN + n - 1  # noqa: E731
    assert outlines.tolist() == [[pitch_to_token(60), pitch_to_token(67), count(3)],
                                 [pitch_to_token(62), pitch_to_token(64), count(3)],
                                 [OUTLINE_SILENT] * 3, [pitch_to_token(72), pitch_to_token(72), count(1)]]


def test_seam_intervals_run_from_a_chunks_last_onset_to_the_next_chunks_first_and_skip_silent_chunks():
    line = [(60, 64), (65, 72), None, (70, 60), (50, 52)]
    outlines = np.array([[OUTLINE_SILENT] * 3 if pitches is None else [*pitch_to_token(np.array(pitches)), 5]
                         for pitches in line])
    assert seam_intervals(outlines).tolist() == [1, -10]


@pytest.fixture(scope="module")
def demo_decoder():
    return load_vae(DEMO_MODEL), LatentCodec.load(DEMO_MODEL)


def test_the_decoder_holds_a_chunk_to_the_first_and_last_pitch_asked_and_silences_a_silent_outline(demo_decoder):
    vae, codec = demo_decoder
    z = codec.inverse(torch.randn(24, codec.data_dims, generator=torch.Generator().manual_seed(0)) * 0.22)
    own = torch.from_numpy(chunk_outlines(vae.decode(z).numpy()))
    assert bool((own >= 2).all()), "every random latent decodes to notes"
    asked = own.clone()
    asked[:, FIRST] -= 1  # start a semitone lower ...
    asked[:, LAST] += 2  # ... and end a tone higher than the free decoding does
    asked[-1] = OUTLINE_SILENT
    held = vae.decode(z, outlines=asked).numpy()
    assert chunk_outlines(held[:-1])[:, :COUNT].tolist() == asked[:-1, :COUNT].tolist()
    assert (held[-1] == NO_EVENT).all()
    again = vae.decode(z, outlines=own).numpy()
    assert chunk_outlines(again)[:, :COUNT].tolist() == own[:, :COUNT].tolist(), "held to its own, a chunk keeps it"
    free_end = own.clone()
    free_end[:, LAST] = OUTLINE_UNKNOWN
    assert chunk_outlines(vae.decode(z, outlines=free_end).numpy())[:, FIRST].tolist() == own[:, FIRST].tolist()
    with pytest.raises(ValueError, match="most likely chunk only"):
        vae.decode(z, temperature=1.0, generator=torch.Generator(), outlines=own)


def test_a_denoiser_that_reads_outlines_starts_as_the_one_it_is_fine_tuned_from(tmp_path):
    torch.manual_seed(0)
    config = DenoiserConfig(data_dims=6, model_dims=16, layers=1, heads=2, transformer_mlp_dims=32, mlp_dims=32,
                            film_dims=16, tune_positions=True)
    plain = TransformerDenoiser(config).eval()
    save_file(dict(plain.state_dict()), str(tmp_path / "diffusion.safetensors"))
    reading = TransformerDenoiser(dataclasses.replace(config, outline_conditioned=True)).eval()
    load_weights_into(reading, tmp_path / "diffusion.safetensors", TransformerDenoiser.ADDED_PARTS)
    x = torch.randn(2, 6, config.data_dims, generator=torch.Generator().manual_seed(1))
    level = torch.tensor([0.5, 0.9])
    outlines = torch.randint(2, 34, (2, 6, OUTLINE_SLOTS), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(reading(x, level, outlines=outlines), plain(x, level), atol=1e-6)
        reading.trunk.outline_embedding.weight.normal_()
        assert not torch.allclose(reading(x, level, outlines=outlines), plain(x, level), atol=1e-3)


def tiny_outline_model() -> OutlineModel:
    torch.manual_seed(0)
    config = OutlineConfig(model_dims=16, layers=1, heads=2, transformer_mlp_dims=32, styles="folk",
                           tune_positions=True)
    return OutlineModel(config).eval()


def test_drawing_outlines_fills_every_unknown_token_keeps_known_ones_and_ties_a_forms_groups():
    model = tiny_outline_model()
    known = torch.zeros(3, 6, OUTLINE_SLOTS, dtype=torch.long)
    known[:, 2] = torch.tensor([pitch_to_token(60), pitch_to_token(67), 9])
    sources = torch.tensor([[0, 1, 2, 0, 1, 5]] * 3)  # latents 3 and 4 restate 0 and 1
    drawn = draw_outlines(model, known, torch.ones(3, dtype=torch.long), [torch.Generator().manual_seed(s)
                                                                         for s in range(3)], sources=sources)
    assert bool((drawn != OUTLINE_UNKNOWN).all())
    assert (drawn[:, 2] == known[:, 2]).all()
    assert (drawn[:, 3] == drawn[:, 0]).all() and (drawn[:, 4] == drawn[:, 1]).all()


def test_a_rows_outline_depends_on_its_own_generator_only():
    model = tiny_outline_model()
    known = torch.zeros(2, 5, OUTLINE_SLOTS, dtype=torch.long)
    style = torch.ones(2, dtype=torch.long)
    together = draw_outlines(model, known, style, [torch.Generator().manual_seed(s) for s in (7, 8)], guidance=2.0)
    alone = draw_outlines(model, known[:1], style[:1], [torch.Generator().manual_seed(8)], guidance=2.0)
    assert torch.equal(together[1:], alone)
