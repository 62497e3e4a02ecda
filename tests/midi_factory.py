"""Hand-built MIDI files for the tests: exact notes, chosen meters and programs."""

from __future__ import annotations

import pretty_midi

from core.music.midi_io import pretty_midi_to_bytes

SECONDS_PER_STEP = 0.125  # sixteenth notes at 120 BPM


def note(start_step: int, end_step: int, pitch: int) -> pretty_midi.Note:
    return pretty_midi.Note(
        velocity=80, pitch=pitch, start=start_step * SECONDS_PER_STEP, end=end_step * SECONDS_PER_STEP
    )


def midi_bytes(instruments: list[pretty_midi.Instrument], meter: tuple[int, int] | None = (4, 4)) -> bytes:
    """A 120 BPM Standard MIDI File holding `instruments` and, unless None, one time signature."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    if meter is not None:
        midi.time_signature_changes.append(pretty_midi.TimeSignature(meter[0], meter[1], 0.0))
    midi.instruments.extend(instruments)
    return pretty_midi_to_bytes(midi)


def instrument(notes: list[pretty_midi.Note], program: int = 0, is_drum: bool = False, name: str = "") -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)
    inst.notes.extend(notes)
    return inst


def two_instrument_song(lead_name: str = "lead", bass_name: str = "bass") -> bytes:
    """Lead (flute) with a two-note chord and an overlap; bass (piano) in 4/4; drums."""
    lead = instrument(
        [note(0, 4, 72), note(0, 4, 76), note(4, 12, 74), note(8, 16, 71), note(40, 48, 79)],
        program=73,
        name=lead_name,
    )
    bass = instrument([note(0, 16, 48), note(16, 32, 43)], program=0, name=bass_name)
    drums = instrument([note(0, 1, 36), note(8, 9, 38)], is_drum=True, name="drums")
    return midi_bytes([lead, bass, drums])
