"""MIDI in and out: guarded parsing of untrusted bytes, melody extraction, melody -> MIDI.

Parsing is bounded before pretty_midi sees a file: a byte cap, a message cap and a tick cap
(pretty_midi allocates arrays sized by the last tick), and, for uploads (`UPLOAD_LIMITS`),
caps on the number of tracks with notes and on the melody length, both derived from the
file's events before any per-track array exists (`core.music.upload_reader` also bounds the time,
in a child process). Every failure becomes one `MidiInputError` (a `ValueError`) that says
what was wrong.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import pretty_midi

from core.limits import MAX_BARS, MAX_TEMPO_BPM, MAX_UPLOAD_BYTES, MIN_TEMPO_BPM, check_program, check_tempo
from core.music.constants import (
    DEFAULT_PROGRAM,
    DEFAULT_TEMPO_BPM,
    DEFAULT_VELOCITY,
    DUPLE_METERS,
    STEPS_PER_BAR,
    STEPS_PER_QUARTER,
)
from core.music.keys import melody_tonic
from core.music.melody import has_notes, melody_from_notes, notes_from_melody, top_line_notes, validate_melody

ALL_NOTES_OFF_CONTROLLER = 123
# a note's velocity by its sixteenth in the bar: the downbeat strongest, then beat 3, beats 2 and 4
BEAT_VELOCITIES = {0: 96, 8: 88, 4: 84, 12: 84}
OFF_BEAT_VELOCITY = 74
PHRASE_STEPS = 4 * STEPS_PER_BAR  # a 4-bar phrase swells to its middle
PHRASE_SWELL = 8  # velocity added at a phrase's middle


class MidiInputError(ValueError):
    """A MIDI file could not be used; the message says why and what to do instead."""


class UnsupportedMeterError(MidiInputError):
    """The file has a time signature whose bars do not line up with 2-bar chunks."""


@dataclass(frozen=True)
class MidiLimits:
    """Caps that bound the time and memory spent on one untrusted MIDI file."""

    max_bytes: int = MAX_UPLOAD_BYTES
    max_messages: int = 500_000
    max_ticks_per_beat: int = 960  # finer files are re-timed onto this grid first
    max_ticks: int = 4_000_000  # after re-timing: over an hour at 960 ticks per quarter, 60 BPM
    max_tracks: int | None = None  # tracks that hold notes; None = any number
    max_bars: int | None = None  # bars up to the last note; None = any length (within max_ticks)
    timeout_s: float = 10.0  # wall-clock budget of a child process that reads the file (`core.music.upload_reader`)


DEFAULT_LIMITS = MidiLimits()  # files the user or the corpus builder chose (CLIs, training data)
# files from anyone (the app): what the pipeline can use, answered within two seconds
UPLOAD_LIMITS = MidiLimits(max_messages=200_000, max_tracks=64, max_bars=MAX_BARS, timeout_s=2.0)


@dataclass(frozen=True)
class ExtractedMelody:
    """One melody line taken from one instrument of a MIDI file."""

    instrument_index: int
    program: int
    name: str  # the track's name without the NULs or spaces some writers pad it with; "" for none
    melody: np.ndarray  # (T,) int8 tokens, T a multiple of 32
    tempo_bpm: float = DEFAULT_TEMPO_BPM  # the file's first tempo, within the limits a request takes
    chord_share: float = 0.0  # share of the instrument's notes that start together with another (chords)


def _reduce_resolution(midi: mido.MidiFile, max_ticks_per_beat: int) -> None:
    """Re-time a file written at a very fine tick grid onto `max_ticks_per_beat`, in place.

    Some writers use 10080 ticks per quarter; pretty_midi allocates arrays sized by the last
    tick, so such files would hit the tick cap long before the length cap is musical.
    Absolute times are rounded, so rounding errors do not accumulate.
    """
    if midi.ticks_per_beat <= max_ticks_per_beat:
        return
    scale = max_ticks_per_beat / midi.ticks_per_beat
    for track in midi.tracks:
        absolute, previous = 0, 0
        for message in track:
            absolute += message.time
            scaled = round(absolute * scale)
            message.time, previous = scaled - previous, scaled
    midi.ticks_per_beat = max_ticks_per_beat


def _event_extents(midi: mido.MidiFile) -> tuple[int, int, int]:
    """One pass over the events: (last tick of any event, last tick of a note event, tracks with notes)."""
    last_tick, last_note_tick, note_tracks = 0, 0, 0
    for track in midi.tracks:
        tick, has_note = 0, False
        for message in track:
            tick += message.time
            if message.type in ("note_on", "note_off"):
                has_note = has_note or message.type == "note_on"
                last_note_tick = max(last_note_tick, tick)
        last_tick, note_tracks = max(last_tick, tick), note_tracks + has_note
    return last_tick, last_note_tick, note_tracks


def _check_mido_file(midi: mido.MidiFile, limits: MidiLimits, declared_tracks: int) -> None:
    if midi.type not in (0, 1, 2):
        raise MidiInputError(f"unsupported MIDI file type {midi.type}; expected 0, 1 or 2")
    if not isinstance(midi.ticks_per_beat, int) or midi.ticks_per_beat <= 0:
        raise MidiInputError(
            f"unsupported time division {midi.ticks_per_beat!r}: only ticks-per-quarter "
            "files are supported, not SMPTE timecode"
        )
    if len(midi.tracks) < declared_tracks:
        raise MidiInputError(f"the MIDI file's header declares {declared_tracks} tracks but only "
                             f"{len(midi.tracks)} could be read: the file is truncated or corrupt")
    if not midi.tracks:
        raise MidiInputError("the MIDI file has no tracks")
    messages = sum(len(track) for track in midi.tracks)
    if messages > limits.max_messages:
        raise MidiInputError(
            f"the MIDI file has {messages} events, more than the limit of {limits.max_messages}"
        )
    _reduce_resolution(midi, limits.max_ticks_per_beat)
    last_tick, last_note_tick, note_tracks = _event_extents(midi)
    if last_tick > limits.max_ticks:
        raise MidiInputError(
            f"the MIDI file lasts {last_tick} ticks, more than the limit of {limits.max_ticks}; "
            "it is either corrupt or far longer than a song"
        )
    # the melody's size, from the events alone, before any per-track array exists
    if limits.max_tracks is not None and note_tracks > limits.max_tracks:
        raise MidiInputError(f"the MIDI file has {note_tracks} tracks with notes; at most {limits.max_tracks} are "
                             "read, so keep the melody's track and remove the others")
    bars = -(-last_note_tick * STEPS_PER_QUARTER // midi.ticks_per_beat) // STEPS_PER_BAR
    if limits.max_bars is not None and bars > limits.max_bars:
        raise MidiInputError(f"the melody is {bars} bars long; at most {limits.max_bars} bars are read, "
                             "so trim the file first")


def load_midi_bytes(data: bytes, limits: MidiLimits = DEFAULT_LIMITS) -> pretty_midi.PrettyMIDI:
    """Parse untrusted MIDI bytes into a PrettyMIDI object, or raise `MidiInputError`."""
    if len(data) == 0:
        raise MidiInputError("the MIDI file is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise MidiInputError(
            f"the MIDI file is {len(data) / 2**20:.1f} MB, larger than the limit of "
            f"{limits.max_bytes / 2**20:.1f} MB"
        )
    if not data.startswith(b"MThd"):
        raise MidiInputError(
            "this is not a Standard MIDI File: it does not start with the 'MThd' header"
        )
    try:
        midi = mido.MidiFile(file=io.BytesIO(data), clip=True)
        _check_mido_file(midi, limits, declared_tracks=int.from_bytes(data[10:12], "big"))
        return pretty_midi.PrettyMIDI(mido_object=midi)
    except MidiInputError:
        raise
    except (EOFError, OSError, ValueError, IndexError, KeyError, TypeError, AttributeError,
            ZeroDivisionError, OverflowError, MemoryError, RecursionError) as error:
        kind = "truncated" if isinstance(error, EOFError) else "corrupt"
        cause = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise MidiInputError(f"the MIDI file is {kind} and could not be read ({cause})") from error


def read_midi_file_bytes(path: str | Path, limits: MidiLimits = DEFAULT_LIMITS) -> bytes:
    """The bytes of a MIDI file on disk, its size checked against `limits.max_bytes` before reading."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise MidiInputError(
            f"{path.name} is {size / 2**20:.1f} MB, larger than the limit of "
            f"{limits.max_bytes / 2**20:.1f} MB"
        )
    return path.read_bytes()


def load_midi_file(path: str | Path, limits: MidiLimits = DEFAULT_LIMITS) -> pretty_midi.PrettyMIDI:
    """Read and parse a MIDI file from disk, checking its size before reading it."""
    return load_midi_bytes(read_midi_file_bytes(path, limits), limits)


def check_duple_meter(midi: pretty_midi.PrettyMIDI) -> None:
    """Raise `UnsupportedMeterError` unless every time signature is 4/4, 2/4, 2/2 or 4/2.

    A file without time signature events is 4/4 by the MIDI standard.
    """
    for change in midi.time_signature_changes:
        meter = (change.numerator, change.denominator)
        if meter not in DUPLE_METERS:
            allowed = ", ".join(f"{n}/{d}" for n, d in sorted(DUPLE_METERS))
            raise UnsupportedMeterError(
                f"time signature {meter[0]}/{meter[1]} at {change.time:.2f} s is not supported: "
                f"2-bar chunks of 32 sixteenths need a duple meter ({allowed})"
            )


def _quantized_steps(midi: pretty_midi.PrettyMIDI, times: np.ndarray) -> np.ndarray:
    """Seconds -> sixteenth steps, rounded, through the file's own tick grid."""
    ticks = np.array([midi.time_to_tick(t) for t in times], dtype=np.int64)
    return np.rint(ticks * STEPS_PER_QUARTER / midi.resolution).astype(np.int64)


def extract_melodies(midi: pretty_midi.PrettyMIDI) -> list[ExtractedMelody]:
    """One monophonic melody per non-drum instrument that has notes, after the meter check.

    Each instrument is quantized to sixteenth notes and reduced to its top line, the skyline
    (`core.music.melody.top_line_notes`: a piano's left hand does not take over under a held
    melody note). Instruments whose notes all fall outside MIDI 21..108
    are left out. Raises `UnsupportedMeterError` for non-duple meters.
    """
    check_duple_meter(midi)
    tempos = midi.get_tempo_changes()[1]
    tempo_bpm = round(float(np.clip(tempos[0], MIN_TEMPO_BPM, MAX_TEMPO_BPM)), 2) if len(tempos) else DEFAULT_TEMPO_BPM
    melodies = []
    for index, instrument in enumerate(midi.instruments):
        if instrument.is_drum or not instrument.notes:
            continue
        starts = _quantized_steps(midi, np.array([note.start for note in instrument.notes]))
        ends = _quantized_steps(midi, np.array([note.end for note in instrument.notes]))
        pitches = np.array([note.pitch for note in instrument.notes], dtype=np.int64)
        melody = melody_from_notes(*top_line_notes(starts, ends, pitches))
        if has_notes(melody):
            _, inverse, counts = np.unique(starts, return_inverse=True, return_counts=True)
            chord_share = float((counts[inverse] > 1).mean())
            name = instrument.name.replace("\x00", " ").strip()
            melodies.append(ExtractedMelody(index, instrument.program, name, melody, tempo_bpm, chord_share))
    return melodies


def note_velocity(start_step: int) -> int:
    """The velocity of a note starting `start_step` sixteenths into the melody: its place in the
    bar (BEAT_VELOCITIES) plus a swell that rises to the middle of each 4-bar phrase and falls
    back at its ends (PHRASE_SWELL)."""
    in_bar = start_step % STEPS_PER_BAR
    phrase = (start_step % PHRASE_STEPS) / PHRASE_STEPS
    return BEAT_VELOCITIES.get(in_bar, OFF_BEAT_VELOCITY) + round(PHRASE_SWELL * math.sin(math.pi * phrase))


def melody_to_pretty_midi(
    melody: np.ndarray,
    tempo_bpm: float = DEFAULT_TEMPO_BPM,
    program: int = DEFAULT_PROGRAM,
    dynamics: bool = True,
) -> pretty_midi.PrettyMIDI:
    """(T,) melody tokens -> a one-instrument PrettyMIDI in 4/4 at `tempo_bpm`, with the key
    signature of its best-fitting major scale (a minor tune: its relative major's).

    With `dynamics` each note's velocity follows the beat and the phrase (`note_velocity`);
    without, every note is DEFAULT_VELOCITY. An "all notes off" controller at step T marks the
    end, so that the file (and its audio) lasts the melody's full length even when it ends in rests.
    """
    melody = validate_melody(melody)
    program, tempo_bpm = check_program(program), check_tempo(tempo_bpm)
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    midi.key_signature_changes.append(pretty_midi.KeySignature(melody_tonic(melody), 0.0))
    instrument = pretty_midi.Instrument(program=program, name="melody")
    seconds_per_step = 60.0 / tempo_bpm / STEPS_PER_QUARTER
    for start, end, pitch in zip(*notes_from_melody(melody)):
        instrument.notes.append(
            pretty_midi.Note(
                velocity=note_velocity(int(start)) if dynamics else DEFAULT_VELOCITY,
                pitch=int(pitch),
                start=float(start) * seconds_per_step,
                end=float(end) * seconds_per_step,
            )
        )
    instrument.control_changes.append(
        pretty_midi.ControlChange(number=ALL_NOTES_OFF_CONTROLLER, value=0, time=float(melody.size) * seconds_per_step))
    midi.instruments.append(instrument)
    return midi


def pretty_midi_to_bytes(midi: pretty_midi.PrettyMIDI) -> bytes:
    """Serialize a PrettyMIDI object to Standard MIDI File bytes."""
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()
