"""Specification of the model bundle: a manifest ties vae, codec, schedule, diffusion and mdn together."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from core.bundle import (
    MANIFEST_NAME,
    VAE_ENCODER,
    bundle_fingerprint,
    check_bundle,
    encoder_sha256,
    read_manifest,
    record_component,
)
from core.diffusion.schedule import NoiseSchedule
from core.music.forms import FORMS_FILE
from core.nets.codec import LatentCodec
from core.nets.vae import ENCODER_PARTS
from core.pipeline import MelodyPipeline

DEMO_MODEL = Path(__file__).resolve().parent.parent / "demo" / "model"


@pytest.fixture()
def bundle(tmp_path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(DEMO_MODEL, copy)
    return copy


def replace_vae_weights(directory: Path, part: str) -> None:
    """Export 'another' VAE: same shapes, the first weight whose name starts with `part` changed."""
    tensors = load_file(str(directory / "vae.safetensors"))
    name = min(key for key in tensors if key.startswith(part))
    tensors[name] = tensors[name] + 0.01
    save_file(tensors, str(directory / "vae.safetensors"))
    record_component(directory, "vae", {})


def test_the_committed_bundle_is_consistent():
    check = check_bundle(DEMO_MODEL)
    assert set(check.hashes) == {"vae", VAE_ENCODER, "codec", "schedule", "diffusion", "mdn", "outline"}
    components = read_manifest(DEMO_MODEL)["components"]
    assert components["codec"]["fitted_on"] == {VAE_ENCODER: check.hashes[VAE_ENCODER]}
    assert components["diffusion"]["fitted_on"] == {
        VAE_ENCODER: check.hashes[VAE_ENCODER], "codec": check.hashes["codec"], "schedule": check.hashes["schedule"]}


def test_a_new_vae_encoder_makes_the_old_codec_unloadable(bundle):
    replace_vae_weights(bundle, "to_mu.")
    with pytest.raises(ValueError, match=r"the codec model in .* was fitted on vae_encoder weights .* they were "
                                         r"replaced after codec was made; refit it with `python -m train.encode"):
        MelodyPipeline(bundle)


def test_a_fine_tuned_decoder_keeps_the_latents_and_every_model_fitted_on_them(bundle):
    encoder_before, vae_before = encoder_sha256(bundle), check_bundle(bundle).hashes["vae"]
    replace_vae_weights(bundle, "decoder.")
    check = check_bundle(bundle)
    assert check.hashes["vae"] != vae_before and check.hashes[VAE_ENCODER] == encoder_before
    assert MelodyPipeline(bundle).denoiser is not None


def test_the_encoder_hash_reads_only_the_encoder_weights_of_the_file(bundle):
    tensors = load_file(str(bundle / "vae.safetensors"))
    before = encoder_sha256(bundle)
    save_file({key: value for key, value in tensors.items() if key.startswith(ENCODER_PARTS)},
              str(bundle / "vae.safetensors"))
    assert encoder_sha256(bundle) == before, "the decoder's weights do not enter it"
    save_file({**tensors, "to_sigma.bias": tensors["to_sigma.bias"].flip(0)}, str(bundle / "vae.safetensors"))
    assert encoder_sha256(bundle) != before
    (bundle / "vae.safetensors").write_bytes(b"other weights")
    with pytest.raises(ValueError, match="vae.safetensors is not a safetensors file"):
        encoder_sha256(bundle)


def test_a_bundle_without_its_schedule_is_refused(bundle):
    (bundle / "schedule.safetensors").unlink()
    with pytest.raises(ValueError, match="has no schedule"):
        MelodyPipeline(bundle)


def test_a_weights_file_changed_behind_the_manifest_is_refused(bundle):
    tensors = load_file(str(bundle / "codec.safetensors"))
    tensors["low"] = tensors["low"] * 2
    save_file(tensors, str(bundle / "codec.safetensors"))
    with pytest.raises(ValueError, match="codec.safetensors changed after the manifest was written"):
        check_bundle(bundle)


def test_a_config_edited_behind_the_manifest_is_refused(bundle):
    meta = json.loads((bundle / "diffusion.json").read_text())
    meta["config"]["dropout"] = 0.5
    (bundle / "diffusion.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="diffusion.json is missing or differs from the config the manifest recorded"):
        check_bundle(bundle)


def test_a_manifest_listing_a_missing_component_or_of_another_format_is_refused(bundle):
    (bundle / "mdn.safetensors").unlink()
    with pytest.raises(ValueError, match="lists mdn but mdn.safetensors is missing"):
        check_bundle(bundle)
    (bundle / MANIFEST_NAME).write_text(json.dumps({"format": 99, "components": {}}))
    with pytest.raises(ValueError, match="has manifest format 99; this code reads 1"):
        check_bundle(bundle)


def test_a_schedule_file_that_is_not_a_schedule_is_refused(tmp_path):
    save_file({"betas": torch.zeros(5), "alpha_bars": torch.zeros(4)}, str(tmp_path / "schedule.safetensors"))
    with pytest.raises(ValueError, match="is not a noise schedule"):
        NoiseSchedule.load(tmp_path)


def test_a_directory_without_manifest_is_not_a_bundle(bundle):
    (bundle / MANIFEST_NAME).unlink()
    with pytest.raises(ValueError, match="is not a model bundle"):
        MelodyPipeline(bundle)


def test_the_schedule_is_loaded_as_saved_not_rebuilt(tmp_path):
    custom = NoiseSchedule.linear(1e-4, 0.02, 50)
    custom.save(tmp_path)
    loaded = NoiseSchedule.load(tmp_path)
    assert loaded.num_steps == 50
    assert torch.equal(loaded.alpha_bars, custom.alpha_bars)
    assert json.loads((tmp_path / "schedule.json").read_text())["config"]["num_steps"] == 50


def test_a_denoiser_for_other_latents_is_refused(bundle):
    codec, keep = LatentCodec.load(bundle), 5
    dataclasses.replace(codec, basis=codec.basis[:keep], low=codec.low[:keep], high=codec.high[:keep]).save(bundle)
    codec = record_component(bundle, "codec", read_manifest(bundle)["components"]["codec"]["fitted_on"])
    for name in ("diffusion", "mdn", "outline"):  # pretend they were retrained, so only the shapes disagree
        fitted = read_manifest(bundle)["components"][name]["fitted_on"]
        record_component(bundle, name, {**fitted, "codec": codec})
    dims = json.loads((bundle / "diffusion.json").read_text())["config"]["data_dims"]
    with pytest.raises(ValueError, match=f"takes {dims}-dim latents but the codec gives 5"):
        MelodyPipeline(bundle)


def test_the_fingerprint_names_the_weights_and_the_forms_a_melody_is_drawn_with(bundle):
    first = bundle_fingerprint(bundle)
    forms = json.loads((bundle / FORMS_FILE).read_text())
    forms["folk"] = forms["folk"][:1]
    (bundle / FORMS_FILE).write_text(json.dumps(forms))
    assert bundle_fingerprint(bundle) != first, "other forms, other melodies: share links must not match"
    (bundle / FORMS_FILE).unlink()
    assert len(bundle_fingerprint(bundle)) == 12
