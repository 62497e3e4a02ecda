"""Every bound on a user request, defined once.

The pipeline enforces these; the CLIs, the app's widgets and its upload size read them
from here, so a limit cannot disagree between two places.
"""

from __future__ import annotations

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
