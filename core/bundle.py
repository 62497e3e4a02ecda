"""A model directory is one bundle: components tied together by `manifest.json`.

Each component is `NAME.safetensors` + `NAME.json` (vae, codec, schedule, diffusion, mdn, outline).
The manifest records, for every component, its config, the SHA-256 of its weights file and
the hashes of the components it was fitted on:

    {"format": 1,
     "components": {
        "vae":       {"config": {...}, "sha256": "...", "fitted_on": {"data": "..."}},
        "codec":     {"config": {...}, "sha256": "...", "fitted_on": {"vae_encoder": "<encoder sha256>"}},
        "schedule":  {"config": {...}, "sha256": "...", "fitted_on": {}},
        "diffusion": {"config": {...}, "sha256": "...",
                      "fitted_on": {"vae_encoder": "...", "codec": "...", "schedule": "..."}},
        "mdn":       {"config": {...}, "sha256": "...", "fitted_on": {"vae_encoder": "...", "codec": "..."}},
        "outline":   {"config": {...}, "sha256": "...", "fitted_on": {"vae_encoder": "...", "codec": "..."}}}}

The latents depend on the VAE's encoder only, so the codec and the sequence models record the
hash of the encoder's weights (`encoder_sha256`, under the name `VAE_ENCODER`): a decoder
fine-tuned with the encoder frozen (`python -m train.train_vae --freeze-encoder true`) replaces
vae.safetensors without invalidating them.

`check_bundle` refuses a directory whose files changed behind the manifest's back, that
lacks a required component, or whose components were fitted on other versions of each
other (say, a codec fitted on the latents of a VAE that has since been replaced).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from core.music.forms import FORMS_FILE
from core.nets.vae import ENCODER_PARTS

# The committed demo bundle, or $MELODY_MODEL_DIR: the default of every CLI and of the app.
DEFAULT_MODEL_DIR = Path(os.environ.get("MELODY_MODEL_DIR", Path(__file__).resolve().parent.parent / "demo" / "model"))
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
REQUIRED_COMPONENTS = ("vae", "codec", "schedule")
VAE_ENCODER = "vae_encoder"  # what the codec and sequence models are fitted on: the VAE's encoder weights
# How to rebuild a component whose inputs changed, for error messages.
REBUILD_HINTS = {
    "vae": "retrain it with `python -m train.train_vae --export DIR`",
    "codec": "refit it with `python -m train.encode --model DIR --refit-codec`",
    "schedule": "export the diffusion model again with `python -m train.train_diffusion --export DIR`",
    "diffusion": "retrain it on the new latents with `python -m train.train_diffusion --export DIR`",
    "mdn": "retrain it on the new latents with `python -m train.train_mdn --export DIR`",
    "outline": "retrain it on the new latents' outlines with `python -m train.train_outline --export DIR`",
}


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(directory: str | Path, name: str) -> str:
    """Hex SHA-256 of `directory/name.safetensors`."""
    path = Path(directory) / f"{name}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{Path(directory)} has no {name} component ({path.name} is missing)")
    return file_sha256(path)


def encoder_sha256(directory: str | Path) -> str:
    """Hex SHA-256 of the encoder weights (`core.nets.vae.ENCODER_PARTS`) in `directory/vae.safetensors`:
    every tensor's name, dtype, shape and bytes, in name order, read from the file's header without torch."""
    path = Path(directory) / "vae.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{Path(directory)} has no vae component ({path.name} is missing)")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        header_size = int.from_bytes(handle.read(8), "little")
        try:
            if header_size > path.stat().st_size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(handle.read(header_size))
        except ValueError as error:
            raise ValueError(f"{path} is not a safetensors file ({error}); export the VAE again") from None
        for name in sorted(key for key in header if key.startswith(ENCODER_PARTS)):
            entry = header[name]
            start, end = entry["data_offsets"]
            handle.seek(8 + header_size + start)
            digest.update(f"{name}:{entry['dtype']}:{entry['shape']}:".encode())
            digest.update(handle.read(end - start))
    return digest.hexdigest()


def dependency_sha256(directory: str | Path, dependency: str) -> str:
    """The hash a component fitted on `dependency` (a component name or VAE_ENCODER) records."""
    return encoder_sha256(directory) if dependency == VAE_ENCODER else weights_sha256(directory, dependency)


def bundle_fingerprint(directory: str | Path) -> str:
    """12 hex digits naming a bundle's exact weights: the SHA-256 of its manifest, which records
    every component's SHA-256, joined with that of its training tunes' forms where it has them
    (`core.music.forms`; the same fingerprint means the same melody for the same settings)."""
    manifest = file_sha256(Path(directory) / MANIFEST_NAME)
    forms = Path(directory) / FORMS_FILE
    if not forms.is_file():
        return manifest[:12]
    return hashlib.sha256(f"{manifest}:{file_sha256(forms)}".encode()).hexdigest()[:12]


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a model directory (an empty one when the directory has none yet)."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "components": {}}
    manifest = json.loads(path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path} has manifest format {manifest.get('format')!r}; this code reads {MANIFEST_FORMAT}")
    return manifest


def _edit_manifest(directory: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply `edit` to the manifest under a file lock (exports may run side by side), then write it
    atomically (temporary file, then rename)."""
    path = directory / MANIFEST_NAME
    with open(directory / (MANIFEST_NAME + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = read_manifest(directory)
        edit(manifest)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, path)


def record_component(directory: str | Path, name: str, fitted_on: dict[str, str]) -> str:
    """Enter the component `name` (already written to `directory`) into the manifest.

    fitted_on: what the component was fitted on, each an identifier -> hash (a component
    name and its weights' SHA-256, or "data" and a hash of the training data).
    Returns the component's own SHA-256.
    """
    directory = Path(directory)
    config_path = directory / f"{name}.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory} has no {name} component ({config_path.name} is missing)")
    sha = weights_sha256(directory, name)
    entry = {"config": stored_config(directory, name), "sha256": sha, "fitted_on": dict(sorted(fitted_on.items()))}
    _edit_manifest(directory, lambda manifest: manifest["components"].__setitem__(name, entry))
    return sha


def forget_stale_components(directory: str | Path, dependency: str) -> list[str]:
    """Drop from the manifest every component fitted on other weights of `dependency` than the
    bundle holds now (say, the sequence models after the codec was refitted), so that the rest
    of the bundle loads; their files stay until they are retrained. Returns their names."""
    directory = Path(directory)
    current = dependency_sha256(directory, dependency)
    stale = sorted(name for name, entry in read_manifest(directory)["components"].items()
                   if entry["fitted_on"].get(dependency, current) != current)

    def drop(manifest: dict[str, Any]) -> None:
        for name in stale:
            manifest["components"].pop(name, None)

    _edit_manifest(directory, drop)
    return stale


def stored_config(directory: str | Path, name: str) -> dict[str, Any]:
    """The config in `directory/name.json` (its "config" field, or the whole file for the codec)."""
    meta = json.loads((Path(directory) / f"{name}.json").read_text())
    return meta.get("config", meta)


@dataclass(frozen=True)
class BundleCheck:
    """What `check_bundle` found: the components present and their weights' hashes."""

    directory: Path
    hashes: dict[str, str]  # component name -> SHA-256 of its weights; VAE_ENCODER -> the encoder's

    def has(self, name: str) -> bool:
        return name in self.hashes


def check_bundle(directory: str | Path, required: tuple[str, ...] = REQUIRED_COMPONENTS) -> BundleCheck:
    """Verify that the components of `directory` belong together; raise ValueError if not.

    Checks, in order: the manifest exists; every required component is present; every
    component's weights still have the hash the manifest recorded; every component was
    fitted on the exact weights of the components it depends on that are in the bundle.
    """
    directory = Path(directory)
    if not (directory / MANIFEST_NAME).is_file():
        raise ValueError(f"{directory} is not a model bundle: it has no {MANIFEST_NAME}; export the models "
                         "into it with the training commands (python -m train.train_vae --export DIR, ...)")
    components = read_manifest(directory)["components"]
    for name in required:
        if name not in components or not (directory / f"{name}.safetensors").is_file():
            raise ValueError(f"the model bundle {directory} has no {name} ({name}.safetensors and its manifest "
                             f"entry); {REBUILD_HINTS[name].replace('DIR', str(directory))}")
    hashes: dict[str, str] = {}
    for name, entry in components.items():
        if not (directory / f"{name}.safetensors").is_file():
            raise ValueError(f"the manifest of {directory} lists {name} but {name}.safetensors is missing")
        actual = weights_sha256(directory, name)
        if actual != entry["sha256"]:
            raise ValueError(f"{directory / (name + '.safetensors')} changed after the manifest was written "
                             f"(sha256 {actual[:12]}, manifest {entry['sha256'][:12]}); export it again "
                             "through the training command so the manifest is updated")
        if not (directory / f"{name}.json").is_file() or stored_config(directory, name) != entry["config"]:
            raise ValueError(f"{directory / (name + '.json')} is missing or differs from the config the manifest "
                             "recorded; export the component again through the training command")
        hashes[name] = actual
    if "vae" in hashes:
        hashes[VAE_ENCODER] = encoder_sha256(directory)
    for name, entry in components.items():
        for dependency, fitted_hash in entry["fitted_on"].items():
            if dependency in hashes and hashes[dependency] != fitted_hash:
                raise ValueError(
                    f"the {name} model in {directory} was fitted on {dependency} weights {fitted_hash[:12]}, but the "
                    f"bundle's {dependency} weights are {hashes[dependency][:12]}: they were replaced after "
                    f"{name} was made; {REBUILD_HINTS[name].replace('DIR', str(directory))}")
    return BundleCheck(directory, hashes)
