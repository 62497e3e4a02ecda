"""Shareable, replayable results: a generation's settings as JSON and as the page URL's query.

Every /generate result carries its settings (the model bundle's fingerprint, seed, bars,
style, style strength, sampler, steps, model, instrument, tempo, phrase shaping, key). The page writes them into
its address bar; opening that address, or uploading the JSON file, sets the controls and
generates again: the same bundle gives the identical MIDI.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import gradio as gr

from core.limits import shown
from core.music.forms import FREE_FORM
from demo.outputs import STYLE_KEY, Refusal, fresh_output_path, shared_pipeline

SHARED_FIELDS = ("bars", "seed", "sampler", "steps", "model", "instrument", "tempo", "style", "guidance", "phrasing",
                 "key", "form")
NUMBER_FIELDS = ("bars", "seed", "steps", "tempo", "guidance")
BOOLEAN_FIELDS = {"phrasing": {"true": True, "1": True, "false": False, "0": False}}
# fields that older settings lack: what their results were made with
ADDED_LATER = {"phrasing": False, "key": STYLE_KEY, "form": FREE_FORM}
MAX_SETTINGS_BYTES = 4096  # a settings file is a few hundred bytes


def settings_of(values: dict) -> dict:
    """The shareable settings of one generation's inputs (GENERATE_INPUTS names), with the bundle;
    whole numbers written as integers, so that a replay writes the same address."""
    settings = {"bundle": shared_pipeline().fingerprint, **{name: values[name] for name in SHARED_FIELDS}}
    for name in NUMBER_FIELDS:
        if isinstance(settings[name], float) and settings[name].is_integer():
            settings[name] = int(settings[name])
    return settings


def settings_query(settings: dict) -> str:
    """Settings as a URL query string ("bundle=...&bars=32&...")."""
    return urlencode({name: "" if value is None else value for name, value in settings.items()})


def settings_file(settings: dict) -> str:
    """Settings written as a small JSON file for download; its path."""
    path = fresh_output_path(f"settings-{settings['seed']}", ".json")
    path.write_text(json.dumps(settings, indent=1))
    return str(path)


def parse_settings(raw: dict) -> dict:
    """Settings from a URL query or a JSON file, numbers as numbers; a gr.Error for unknown or missing
    fields. The values themselves are checked by the generation handler like any request's."""
    raw = {**ADDED_LATER, **raw}
    unknown = set(raw) - {"bundle", *SHARED_FIELDS}
    missing = set(SHARED_FIELDS) - set(raw)
    if unknown or missing:
        raise Refusal(f"These settings cannot be replayed: unknown {sorted(unknown)}, missing {sorted(missing)}.")
    settings = dict(raw)
    for name in NUMBER_FIELDS:
        value = settings[name]
        if value in ("", None):
            settings[name] = None
        elif isinstance(value, str):
            try:
                settings[name] = float(value) if "." in value or "e" in value.lower() else int(value)
            except ValueError as error:
                raise Refusal(f"Setting {name} must be a number, got {shown(value)}.") from error
    for name, spellings in BOOLEAN_FIELDS.items():
        value = settings[name]
        if isinstance(value, str):
            if value.lower() not in spellings:
                raise Refusal(f"Setting {name} must be true or false, got {shown(value)}.")
            settings[name] = spellings[value.lower()]
    if settings.get("bundle") != shared_pipeline().fingerprint:
        gr.Warning(f"These settings were made with model bundle {settings.get('bundle')!r}; this app runs "
                   f"{shared_pipeline().fingerprint!r}, so the melody will differ.")
    return settings


def settings_from_query(query: str) -> dict | None:
    """Settings in a page address's query, or None when it holds none."""
    raw = dict(parse_qsl(query.lstrip("?"), keep_blank_values=True))
    return parse_settings(raw) if raw.get("bundle") is not None else None


def settings_from_file(path: str | None) -> dict:
    """Settings in an uploaded JSON file, or a gr.Error that says what is wrong with it."""
    if not path:
        raise Refusal("Upload the settings .json file of a result.")
    if Path(path).stat().st_size > MAX_SETTINGS_BYTES:
        raise Refusal(f"A settings file is a few hundred bytes; this one is larger than {MAX_SETTINGS_BYTES}.")
    try:
        raw = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Refusal(f"This is not a settings file (not JSON: {error}).") from error
    if not isinstance(raw, dict):
        raise Refusal("This is not a settings file (a JSON object of settings was expected).")
    return parse_settings(raw)
