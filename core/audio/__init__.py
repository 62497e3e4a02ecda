"""Audio previews: render MIDI to sample arrays with FluidSynth, and write them as WAV, Ogg Vorbis or MP3.

The synthesizer never opens an audio device: samples are pulled with `get_samples`. Loading
a soundfont is the expensive part, so one `MidiSynth` per soundfont and sample rate is kept
per process (`shared_synth`) and reused; a lock makes it safe to call from server threads.

The soundfont is, in order: the `soundfont` argument, the `MELODY_SOUNDFONT` environment
variable, the system's FluidR3 General MIDI font where Debian's `fluid-soundfont-gm` put it (a
Space installs it from packages.txt: 141 MB of fuller samples), or the 6 MB General MIDI font
that ships inside pretty_midi (TimGM6mb.sf2).
"""

from __future__ import annotations

import functools
import os
import threading
import wave
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile

from core.limits import check_program, check_tempo

SOUNDFONT_ENV = "MELODY_SOUNDFONT"
SYSTEM_SOUNDFONTS = (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),)  # Debian's fluid-soundfont-gm
BUNDLED_SOUNDFONT = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
DEFAULT_SAMPLE_RATE = 44_100
PEAK_LEVEL = 0.9  # renders are scaled so that their loudest sample sits here
RELEASE_TAIL_S = 1.0  # rendered after the last note so that its release is heard
DRUM_CHANNEL = 9
MAX_RENDER_SECONDS = 30 * 60
SYNTH_BLOCK = 64  # FluidSynth renders in blocks of 64 samples and applies events per block
PULL_BLOCK = 1024 * SYNTH_BLOCK  # most samples taken from the synth at once
NOISE_FLOOR = 8 / 32768  # FluidSynth dithers its 16-bit output by about one step
OGG_WRITE_BLOCK = 16_384  # samples per write to the Vorbis (or MP3) encoder


def resolve_soundfont(soundfont: str | Path | None = None) -> Path:
    """The soundfont to use: the argument, else $MELODY_SOUNDFONT, else the first of
    SYSTEM_SOUNDFONTS installed, else the bundled GM font."""
    if soundfont:
        origin, chosen = "soundfont", soundfont
    elif os.environ.get(SOUNDFONT_ENV):
        origin, chosen = f"${SOUNDFONT_ENV}", os.environ[SOUNDFONT_ENV]
    else:
        installed = [path for path in SYSTEM_SOUNDFONTS if path.is_file()]
        origin, chosen = ("system soundfont", installed[0]) if installed else ("bundled soundfont", BUNDLED_SOUNDFONT)
    path = Path(chosen).expanduser()
    if not path.is_file():
        raise ValueError(f"{origin} {str(path)!r} is not a file; give the path of a .sf2 soundfont")
    return path


def _import_fluidsynth():
    try:
        import fluidsynth
    except ImportError as error:
        raise RuntimeError(
            "FluidSynth is not available: install the system library libfluidsynth3 "
            "(the README's install command does this) and the pyfluidsynth package"
        ) from error
    return fluidsynth


class MidiSynth:
    """A FluidSynth instance with one loaded soundfont, rendering PrettyMIDI objects."""

    def __init__(self, soundfont: str | Path | None = None, sample_rate: int = DEFAULT_SAMPLE_RATE):
        if not 8_000 <= sample_rate <= 96_000:
            raise ValueError(f"sample_rate must lie in 8000..96000 Hz, got {sample_rate}")
        fluidsynth = _import_fluidsynth()
        self.soundfont = resolve_soundfont(soundfont)
        self.sample_rate = sample_rate
        self._synth = fluidsynth.Synth(samplerate=float(sample_rate))
        self._font_id = self._synth.sfload(str(self.soundfont))
        if self._font_id == -1:
            raise ValueError(f"FluidSynth could not load the soundfont {str(self.soundfont)!r}")
        self._lock = threading.Lock()

    def _select_programs(self, midi: pretty_midi.PrettyMIDI, program: int | None) -> list[int]:
        """Give each instrument a channel with its GM preset; return the channels in order."""
        channels = []
        melodic_channels = [c for c in range(16) if c != DRUM_CHANNEL]
        for index, instrument in enumerate(midi.instruments):
            if instrument.is_drum:
                channel, bank, preset = DRUM_CHANNEL, 128, instrument.program
            else:
                channel = melodic_channels[index % len(melodic_channels)]
                bank, preset = 0, instrument.program if program is None else program
            self._synth.program_select(channel, self._font_id, bank, preset)
            channels.append(channel)
        return channels

    def _note_events(self, midi: pretty_midi.PrettyMIDI, channels: list[int]) -> list[tuple]:
        """(sample, is_on, channel, pitch, velocity) for every note, sorted, offs before ons."""
        events = []
        for instrument, channel in zip(midi.instruments, channels):
            for note in instrument.notes:
                start = round(note.start * self.sample_rate)
                end = max(start + 1, round(note.end * self.sample_rate))
                events.append((start, 1, channel, note.pitch, note.velocity))
                events.append((end, 0, channel, note.pitch, 0))
        events.sort()
        return events

    def render(self, midi: pretty_midi.PrettyMIDI, program: int | None = None) -> np.ndarray:
        """Render all instruments to mono float32 samples in [-1, 1]: (num_samples,).

        The result is scaled so that its peak is `PEAK_LEVEL`, since TimGM6mb renders a
        single melody line far below full scale; a render below the dither noise floor is
        returned as exact silence. Every render consumes whole synth blocks, so the same
        MIDI renders to the same samples (up to dither) each time.

        program: a GM program 0..127 for every non-drum instrument, or None to keep each
        instrument's own. The result lasts the MIDI's end time plus a 1 s release tail.
        """
        if program is not None:
            check_program(program)
        end_time = midi.get_end_time()
        if end_time > MAX_RENDER_SECONDS:
            raise ValueError(
                f"the MIDI lasts {end_time / 60:.0f} minutes; rendering is limited to "
                f"{MAX_RENDER_SECONDS // 60} minutes"
            )
        total = round((end_time + RELEASE_TAIL_S) * self.sample_rate)
        block_aligned_total = -(-total // SYNTH_BLOCK) * SYNTH_BLOCK
        # the synth's interleaved 16-bit stereo is folded into this one mono buffer a block at a
        # time, so a 29-minute render holds 4 bytes a sample instead of several full-length copies
        mono = np.empty(block_aligned_total, dtype=np.float32)  # (N,)
        cursor = 0

        def render_until(sample: int) -> None:
            nonlocal cursor
            while cursor < sample:
                count = min(PULL_BLOCK, sample - cursor)
                stereo = self._synth.get_samples(count).reshape(-1, 2)  # (count, 2) int16
                mono[cursor : cursor + count] = stereo.mean(axis=1, dtype=np.float32)
                cursor += count

        with self._lock:
            self._synth.system_reset()
            channels = self._select_programs(midi, program)
            for sample, is_on, channel, pitch, velocity in self._note_events(midi, channels):
                render_until(sample)
                if is_on:
                    self._synth.noteon(channel, pitch, velocity)
                else:
                    self._synth.noteoff(channel, pitch)
            render_until(block_aligned_total)
            for channel in range(16):
                self._synth.all_sounds_off(channel)
        mono = mono[:total]
        peak = max(float(mono.max()), -float(mono.min())) / 32768.0
        if peak < NOISE_FLOOR:
            mono[:] = 0.0
            return mono
        mono *= PEAK_LEVEL / (peak * 32768.0)
        return mono


@functools.lru_cache(maxsize=4)
def shared_synth(soundfont: str | None = None, sample_rate: int = DEFAULT_SAMPLE_RATE) -> MidiSynth:
    """The process-wide synth for a soundfont and sample rate (created on first use)."""
    return MidiSynth(soundfont, sample_rate)


def render_midi(
    midi: pretty_midi.PrettyMIDI,
    program: int | None = None,
    soundfont: str | Path | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
) -> np.ndarray:
    """Render with the shared synth: mono float32 samples (num_samples,)."""
    font = str(resolve_soundfont(soundfont))
    return shared_synth(font, sample_rate).render(midi, program)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> None:
    """Write mono float samples (N,) in [-1, 1] as a 16-bit PCM WAV file."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"samples must be mono (N,), got shape {samples.shape}")
    pcm = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def _write_encoded(path: str | Path, samples: np.ndarray, sample_rate: int, format: str, subtype: str) -> None:
    """Write mono float samples (N,) in [-1, 1] through one of libsndfile's encoders, in blocks: one
    large write to the Vorbis encoder can crash libsndfile."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"samples must be mono (N,), got shape {samples.shape}")
    with soundfile.SoundFile(str(path), "w", sample_rate, 1, format=format, subtype=subtype) as out:
        for start in range(0, samples.size, OGG_WRITE_BLOCK):
            out.write(samples[start : start + OGG_WRITE_BLOCK])


def write_ogg(path: str | Path, samples: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> None:
    """Write mono float samples (N,) in [-1, 1] as Ogg Vorbis (soundfile's libsndfile; about 1.2 MB
    for 64 bars at 120 BPM against 11.4 MB of WAV)."""
    _write_encoded(path, samples, sample_rate, "OGG", "VORBIS")


def write_mp3(path: str | Path, samples: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> None:
    """Write mono float samples (N,) in [-1, 1] as MP3 (libsndfile's LAME encoder), for browsers that
    play no Ogg Vorbis (older Safari); about 3x the encoding time of `write_ogg`."""
    _write_encoded(path, samples, sample_rate, "MP3", "MPEG_LAYER_III")


AUDIO_WRITERS = {".wav": write_wav, ".ogg": write_ogg, ".mp3": write_mp3}


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> None:
    """Write mono samples (N,) in the format the suffix names: .wav (16-bit PCM), .ogg (Vorbis) or .mp3."""
    suffix = Path(path).suffix.lower()
    if suffix not in AUDIO_WRITERS:
        raise ValueError(f"audio files must end in {' or '.join(AUDIO_WRITERS)}, got {str(path)!r}")
    AUDIO_WRITERS[suffix](path, samples, sample_rate)


def retime_to_tempo(midi: pretty_midi.PrettyMIDI, tempo_bpm: float) -> pretty_midi.PrettyMIDI:
    """Stretch the whole file so that its first tempo becomes `tempo_bpm` (in place)."""
    check_tempo(tempo_bpm)
    _, tempi = midi.get_tempo_changes()
    original = float(tempi[0]) if len(tempi) else 120.0
    end = max(midi.get_end_time(), 1e-3)
    midi.adjust_times([0.0, end], [0.0, end * original / tempo_bpm])
    return midi
