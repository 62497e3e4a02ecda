"""Musical constants of the melody representation.

Every module that needs a step count, a token id or a pitch bound imports it from here.
"""

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16  # 4/4 bar of sixteenth notes
BARS_PER_CHUNK = 2
STEPS_PER_CHUNK = STEPS_PER_BAR * BARS_PER_CHUNK  # 32: one MusicVAE input
CHUNKS_PER_WINDOW = 32  # k latents the sequence models see: 64 bars

# Token vocabulary of Magenta's OneHotMelodyConverter.
NO_EVENT = 0  # hold the sounding note, or continue the rest
NOTE_OFF = 1
MIN_PITCH = 21  # A0
MAX_PITCH = 108  # C8
FIRST_NOTE_TOKEN = 2  # token of MIN_PITCH
NUM_TOKENS = FIRST_NOTE_TOKEN + MAX_PITCH - MIN_PITCH + 1  # 90

# Meters whose bars line up with 2-bar chunks of 32 sixteenth steps.
DUPLE_METERS = frozenset({(4, 4), (2, 4), (2, 2), (4, 2)})

DEFAULT_TEMPO_BPM = 120.0
DEFAULT_PROGRAM = 0  # GM Acoustic Grand Piano
DEFAULT_VELOCITY = 90
