"""Every bound on a user request, defined and checked once.

The requests (`core.requests`) check their fields with the functions here; MIDI writing,
audio rendering and the app's own controls use the same functions, so a limit and its
message cannot disagree between the API, the CLI and Python.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MIN_BARS = 2  # one 2-bar latent
MAX_BARS = 256  # longest melody generated or infilled (about 8.5 minutes at 120 BPM)
MIN_TEMPO_BPM = 20.0
MAX_TEMPO_BPM = 300.0
MAX_PROGRAM = 127  # General MIDI programs 0..127
MAX_SEED = 2**31 - 1
MAX_STEPS = 1000  # sampler steps (the schedule's length bounds them too)
APP_FAST_STEPS = (5, 200)  # the app's Steps slider for the fast sampler, and its admission check
MAX_SEEDS_PER_REQUEST = 64  # melodies made by one batched call
MAX_RESAMPLE = 10  # extra RePaint rounds per infilling step
MAX_SEAM_CANDIDATES = 8  # infillings drawn per seed to choose the best-joined one from
MAX_TEMPERATURE = 10.0  # TransformerMDN sampling temperature
MAX_GUIDANCE = 10.0  # classifier-free guidance scale
MAX_UPLOAD_BYTES = 8 * 2**20  # MIDI files read from users

# What a request asks of the machine, in sampler evaluations of one latent (steps x latents x seeds);
# 200 fast steps on 32 bars take about 2 s on one core, DDPM's 1000 steps on 32 bars about 11 s.
MDN_STEPS_EQUIVALENT = 20  # the TransformerMDN's one pass per latent costs about 20 diffusion steps
AUDIO_WORK_PER_BAR = 10  # rendering a bar of audio preview
QUICK_WORK = 3_200  # at or under this (200 fast steps on 32 bars), a request takes the app's quick lane
PUBLIC_MAX_WORK = 32_000  # the most one request may ask of a public Space (DDPM on 64 bars)


def sampling_work(steps: int, bars: int, seeds: int = 1) -> int:
    """Sampler evaluations of one latent that `seeds` melodies of `bars` bars take at `steps` steps."""
    return steps * (bars // 2) * seeds

MAX_REQUEST_BODY_BYTES = 256 * 2**10  # any request to the app but an upload (demo.request_guard)
# Uploads to the app (demo.request_guard): per request, per client address over a window, on disk.
MAX_FILES_PER_UPLOAD = 4
MAX_UPLOAD_REQUEST_BYTES = MAX_FILES_PER_UPLOAD * MAX_UPLOAD_BYTES + 2**16  # the files and their multipart framing
UPLOAD_WINDOW_S = 60.0
UPLOAD_BYTES_PER_CLIENT = 32 * 2**20  # in any UPLOAD_WINDOW_S seconds
UPLOAD_FILES_PER_CLIENT = 20  # in any UPLOAD_WINDOW_S seconds
UPLOAD_DISK_BYTES = 200 * 2**20  # uploads kept on disk; the oldest go first


MAX_SHOWN_CHARS = 40  # of a refused value quoted back in a message


def shown(value) -> str:
    """A refused value as a message quotes it: its repr cut to MAX_SHOWN_CHARS, with its kind when
    that is not what was asked for (text, a list, ...), so that a huge or odd value never fills a
    message or a log."""
    whole_float = isinstance(value, float) and value.is_integer() and abs(value) < 1e15
    text = str(int(value)) if whole_float else repr(value)  # 1000.0 from a command line reads as 1000
    if len(text) > MAX_SHOWN_CHARS:
        text = text[: MAX_SHOWN_CHARS - 3] + "..."
    kinds = {str: "text", list: "a list", dict: "an object", bool: "true/false"}
    kind = next((name for cls, name in kinds.items() if isinstance(value, cls)), None)
    return f"{text} ({kind})" if kind else text


def is_number(value) -> bool:
    """True for an int or float (a raw API value may be anything; bool is not a number here)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def check_whole(label: str, value, low: int, high: int) -> int:
    """`value` as an int in [low, high] (a whole float such as a number widget's 3.0 counts), or a
    ValueError that says what to give instead."""
    if (not is_number(value) or not low <= value <= high  # range first: 2**64 is no float64
            or not np.isfinite(value) or value != int(value)):
        raise ValueError(f"{label} must be a whole number from {low} to {high}, got {shown(value)}.")
    return int(value)


def check_number(label: str, value, low: float, high: float, unit: str = "") -> float:
    """`value` as a float in [low, high], or a ValueError that says what to give instead."""
    if not is_number(value) or not low <= value <= high:
        raise ValueError(f"{label} must lie between {low:g} and {high:g}{unit}, got {shown(value)}.")
    return float(value)


def check_choice(label: str, value, allowed: Sequence[str]) -> str:
    """`value` if it is one of `allowed`, or a ValueError that lists them."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{label} must be one of: {', '.join(allowed)}; got {shown(value)}.")
    return value


def check_bool(label: str, value) -> bool:
    """`value` if it is true or false (not 1, not "yes"), or a ValueError that says so."""
    if not isinstance(value, bool):
        raise ValueError(f"{label} must be true or false, got {shown(value)}.")
    return value


def check_tempo(value) -> float:
    """Beats per minute in MIN_TEMPO_BPM..MAX_TEMPO_BPM."""
    return check_number("Tempo", value, MIN_TEMPO_BPM, MAX_TEMPO_BPM, " BPM")


def check_program(value) -> int:
    """A General MIDI program 0..MAX_PROGRAM."""
    return check_whole("Program (General MIDI instrument)", value, 0, MAX_PROGRAM)


def check_bars(value, label: str = "Bars") -> int:
    """An even number of bars (whole 2-bar latents) in MIN_BARS..MAX_BARS."""
    bars = check_whole(label, value, MIN_BARS, MAX_BARS)
    if bars % 2:
        raise ValueError(f"{label} must be an even number (2-bar latents) from {MIN_BARS} to {MAX_BARS}, got {bars}.")
    return bars
