"""Specification of the MusicVAE (core.nets.vae), its checkpoints and the latent codec."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from core.music.melody import melody_from_notes
from core.nets.checkpoint import load_checkpoint, load_weights_into, save_checkpoint
from core.nets.codec import LatentCodec
from core.nets.vae import MusicVAE, VAEConfig, load_vae, rest_mask

TINY = VAEConfig(encoder_size=16, decoder_size=16, decoder_layers=2, z_size=8)


def chunks_with_rests() -> torch.Tensor:
    """Four chunks: a melody, a rest chunk, another melody, a chunk holding silence only."""
    melody = melody_from_notes([0, 8, 16], [8, 16, 30], [60, 64, 67])
    other = melody_from_notes([4], [20], [72])
    rows = [melody, np.zeros(32, np.int8), other, np.zeros(32, np.int8)]
    return torch.as_tensor(np.stack(rows), dtype=torch.long)


def test_rest_mask_marks_chunks_without_onsets():
    assert rest_mask(chunks_with_rests()).tolist() == [False, True, False, True]


def test_encode_and_decode_shapes_and_the_rest_chunk_rule():
    torch.manual_seed(0)
    vae = MusicVAE(TINY).eval()
    tokens = chunks_with_rests()
    mu, sigma = vae.encode(tokens)
    assert mu.shape == sigma.shape == (4, 8)
    assert (sigma > 0).all()
    assert (mu[[1, 3]] == 0).all() and (mu[[0, 2]] != 0).any()
    decoded = vae.decode(mu)
    assert decoded.shape == (4, 32) and decoded.dtype == torch.long
    assert (decoded[[1, 3]] == 0).all(), "the zero latent decodes to silence"
    assert ((decoded >= 0) & (decoded < 90)).all()


def test_forward_returns_logits_and_a_nonnegative_kl():
    vae = MusicVAE(TINY)
    out = vae(chunks_with_rests(), sampling_probability=0.5, generator=torch.Generator().manual_seed(0))
    assert out.logits.shape == (4, 32, 90)
    assert out.mu.shape == out.sigma.shape == (4, 8)
    assert (out.kl >= 0).all()


def test_sampling_decode_needs_a_generator_and_is_reproducible_with_one():
    vae = MusicVAE(TINY).eval()
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match="needs a torch.Generator"):
        vae.decode(z, temperature=1.0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        vae.decode(z, temperature=0.0)
    first = vae.decode(z, temperature=1.0, generator=torch.Generator().manual_seed(5))
    second = vae.decode(z, temperature=1.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first, second)


def test_checkpoint_round_trip_restores_identical_outputs(tmp_path):
    vae = MusicVAE(TINY).eval()
    save_checkpoint(tmp_path, "vae", vae, TINY, step=7)
    loaded = load_vae(tmp_path)
    tokens = chunks_with_rests()
    assert torch.equal(loaded.encode(tokens)[0], vae.encode(tokens)[0])
    assert json.loads((tmp_path / "vae.json").read_text())["step"] == 7


def test_a_noise_conditioned_decoder_starts_as_the_one_it_grows_from_and_reads_its_level_once_trained(tmp_path):
    plain = MusicVAE(TINY).eval()
    save_checkpoint(tmp_path, "vae", plain, TINY, step=1)
    conditioned = MusicVAE(VAEConfig(**{**TINY.__dict__, "noise_conditioned": True})).eval()
    load_weights_into(conditioned, tmp_path / "vae.safetensors", MusicVAE.ADDED_PARTS)  # its new part stays zero
    z = plain.encode(chunks_with_rests())[0]
    for level in (0.0, 0.1):
        assert torch.equal(conditioned.decode(z, noise_level=level), plain.decode(z)), "a zero shift changes nothing"
    with torch.no_grad():
        conditioned.noise_shift.weight.fill_(1.0)
    assert torch.equal(conditioned.decoder_latent(z, 0.0), z), "level 0 reads a chunk's own latent"
    shifted = conditioned.decoder_latent(z, torch.tensor([0.0, 0.05, 0.1, 0.0]))
    assert torch.allclose(shifted - z, torch.tensor([0.0, 1.0, 2.0, 0.0])[:, None].expand_as(z)), "20 x the level"
    with pytest.raises(ValueError, match="missing tensors"):
        load_weights_into(conditioned, tmp_path / "vae.safetensors")  # only a fine-tune may add parts


def test_checkpoint_whose_config_does_not_match_its_weights_fails_clearly(tmp_path):
    save_checkpoint(tmp_path, "vae", MusicVAE(TINY), TINY, step=1)
    meta = json.loads((tmp_path / "vae.json").read_text())
    meta["config"]["z_size"] = 9
    (tmp_path / "vae.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"does not match its config: tensor 'to_mu.weight' has shape"):
        load_vae(tmp_path)
    meta["config"]["z_size"] = 8
    meta["config"]["decoder_layers"] = 3
    (tmp_path / "vae.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="missing tensors"):
        load_vae(tmp_path)
    meta["config"]["colour"] = "blue"
    (tmp_path / "vae.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"unknown VAEConfig keys \['colour'\]"):
        load_checkpoint(tmp_path, "vae", VAEConfig, MusicVAE)


def synthetic_posteriors(n=500, z=6, seed=0):
    """Dims 0, 2, 5 informative (small sigma, spread mu); the rest at the prior."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, z, generator=g) * torch.tensor([2.0, 0.05, 1.0, 0.05, 0.05, 3.0])
    sigma = torch.tensor([0.1, 0.99, 0.3, 1.0, 0.97, 0.05]).expand(n, z).clone()
    return mu, sigma


def test_codec_keeps_the_low_sigma_dims_and_maps_training_latents_into_unit_range():
    mu, sigma = synthetic_posteriors()
    codec = LatentCodec.fit(mu, sigma, sigma_threshold=0.8)
    assert torch.equal(codec.basis, torch.eye(6)[[0, 2, 5]])
    x = codec.transform(mu)
    assert x.shape == (500, 3)
    assert x.min() >= -1 - 1e-6 and x.max() <= 1 + 1e-6
    assert torch.allclose(x.min(0).values, torch.full((3,), -1.0), atol=1e-5)
    assert codec.rest_point.abs().max() <= 1.0


def test_codec_round_trip_reproduces_kept_dims_and_fills_dropped_dims_with_means(tmp_path):
    mu, sigma = synthetic_posteriors()
    codec = LatentCodec.fit(mu, sigma)
    codec.save(tmp_path)
    loaded = LatentCodec.load(tmp_path)
    z = loaded.inverse(loaded.transform(mu))
    assert torch.allclose(z[:, [0, 2, 5]], mu[:, [0, 2, 5]], atol=1e-5)
    assert torch.allclose(z[:, [1, 3, 4]], mu[:, [1, 3, 4]].mean(0).expand(500, 3), atol=1e-6)
    assert torch.allclose(loaded.inverse(loaded.rest_point)[[0, 2, 5]], torch.zeros(3), atol=1e-6)


def test_principal_components_keep_the_directions_the_informative_dims_vary_along():
    g = torch.Generator().manual_seed(1)
    direction = torch.tensor([0.6, 0.0, 0.8, 0.0, 0.0, 0.0])  # dims 0 and 2 move together
    mu = torch.randn(400, 1, generator=g) * 2.0 * direction + torch.randn(400, 6, generator=g) * 0.01
    sigma = torch.tensor([0.1, 0.99, 0.3, 1.0, 0.97, 0.05]).expand(400, 6).clone()
    codec = LatentCodec.fit(mu, sigma, components=1)
    assert codec.data_dims == 1 and torch.allclose(codec.basis[0].abs(), direction, atol=0.01)
    z = codec.inverse(codec.transform(mu))
    assert (z - mu).abs().max() < 0.06, "one direction carries nearly all of it"
    assert codec.rest_point.abs().max() <= 1.0
    with pytest.raises(ValueError, match=r"components must lie in 1\.\.3 \(the informative dims\), got 4"):
        LatentCodec.fit(mu, sigma, components=4)


def test_a_codec_saved_before_directions_loads_as_the_same_map(tmp_path):
    mu, sigma = synthetic_posteriors()
    codec = LatentCodec.fit(mu, sigma)
    kept = torch.tensor([0, 2, 5])
    save_file({"active_dims": kept, "low": codec.low + codec.center[kept], "high": codec.high + codec.center[kept],
               "fill": codec.center, "mean_sigma": codec.mean_sigma}, str(tmp_path / "codec.safetensors"))
    (tmp_path / "codec.json").write_text(json.dumps({"sigma_threshold": 0.8, "data_dims": 3, "z_size": 6}))
    old = LatentCodec.load(tmp_path)
    assert torch.allclose(old.transform(mu), codec.transform(mu), atol=1e-5)
    assert torch.allclose(old.inverse(codec.transform(mu)), codec.inverse(codec.transform(mu)), atol=1e-5)


def test_codec_refuses_a_collapsed_vae_and_bad_shapes():
    mu, _ = synthetic_posteriors()
    with pytest.raises(ValueError, match="no latent dimension has mean posterior sigma below"):
        LatentCodec.fit(mu, torch.ones_like(mu))
    with pytest.raises(ValueError, match="must both be"):
        LatentCodec.fit(mu, torch.ones(3, 3))
    with pytest.raises(ValueError, match="sigma_threshold must lie"):
        LatentCodec.fit(mu, torch.ones_like(mu), sigma_threshold=1.5)
