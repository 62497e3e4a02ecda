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
