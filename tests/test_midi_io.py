"""Specification of MIDI parsing, melody extraction and melody -> MIDI (core.music.midi_io)."""

import numpy as np
import pytest

from core.music.constants import NOTE_OFF
from core.music.melody import melody_from_notes, notes_from_melody, pitch_to_token, validate_melody
from core.music.midi_io import (
    MidiInputError,
    MidiLimits,
    UnsupportedMeterError,
    extract_melodies,
    load_midi_bytes,
    melody_to_pretty_midi,
    pretty_midi_to_bytes,
)
from tests.midi_factory import instrument, midi_bytes, note, two_instrument_song
from train import music21_corpus


def roundtrip(melody: np.ndarray) -> np.ndarray:
    midi = load_midi_bytes(pretty_midi_to_bytes(melody_to_pretty_midi(melody)))
    (extracted,) = extract_melodies(midi)
    return extracted.melody


@pytest.fixture(scope="module")
def corpus_melodies() -> list[np.ndarray]:
    """Melodies of real pieces: Essen children's songs in duple meters and a Bach chorale soprano."""
    root = music21_corpus.corpus_root()
    text = (root / "essenFolksong" / "kinder0.abc").read_text(encoding="latin-1")
    tunes = music21_corpus._split_abc_tunes(text)[:12]
    items = [music21_corpus.Music21Item(f"kinder#{i}", str(root / "essenFolksong/kinder0.abc"), t)
             for i, t in enumerate(tunes)]
    items.append(music21_corpus.Music21Item("bach/bwv66.6.mxl", str(root / "bach" / "bwv66.6.mxl")))
    melodies = []
    for item in items:
        try:
            melodies += [track.melody for track in music21_corpus.read_item(item)]
        except music21_corpus.SkippedItem:
            continue
    assert len(melodies) >= 8
    return melodies


def test_events_to_midi_to_events_is_the_identity_on_corpus_melodies(corpus_melodies):
    for melody in corpus_melodies:
        assert melody.size % 32 == 0 and (melody >= 2).sum() >= 8
        np.testing.assert_array_equal(roundtrip(melody), melody)


@pytest.mark.parametrize("tempo", [40.0, 120.0, 297.0])
def test_roundtrip_does_not_depend_on_tempo(tempo):
    melody = melody_from_notes([0, 3, 5, 17, 40], [3, 5, 9, 30, 64], [60, 61, 90, 30, 70])
    midi = melody_to_pretty_midi(melody, tempo_bpm=tempo, program=40)
    assert midi.instruments[0].program == 40
    (extracted,) = extract_melodies(load_midi_bytes(pretty_midi_to_bytes(midi)))
    np.testing.assert_array_equal(extracted.melody, melody)


def test_polyphonic_two_instrument_file_gives_one_top_line_per_pitched_instrument():
    melodies = extract_melodies(load_midi_bytes(two_instrument_song()))
    assert [(m.name, m.program) for m in melodies] == [("lead", 73), ("bass", 0)]
    lead, bass = melodies[0].melody, melodies[1].melody
    expected_lead = np.zeros(64, np.int8)
    expected_lead[0] = pitch_to_token(76)  # the chord's top note; 72 is dropped
    expected_lead[4] = pitch_to_token(74)  # held over the lower 71's onset at step 8: 71 is not heard
    expected_lead[12] = pitch_to_token(71)  # until 74 ends; what is left of it (a quarter) is a note
    expected_lead[16] = NOTE_OFF
    expected_lead[40] = pitch_to_token(79)
    expected_lead[48] = NOTE_OFF
    np.testing.assert_array_equal(lead, expected_lead)
    assert [a.tolist() for a in notes_from_melody(bass)] == [[0, 16], [16, 32], [48, 43]]


@pytest.mark.parametrize("meter", [(3, 4), (6, 8), (5, 4), (12, 8)])
def test_non_duple_meters_are_rejected_with_the_reason(meter):
    data = midi_bytes([instrument([note(0, 4, 60)])], meter=meter)
    with pytest.raises(UnsupportedMeterError, match=rf"time signature {meter[0]}/{meter[1]} .* duple meter"):
        extract_melodies(load_midi_bytes(data))


@pytest.mark.parametrize("meter", [(4, 4), (2, 4), (2, 2), (4, 2), None])
def test_duple_meters_and_files_without_meter_are_accepted(meter):
    data = midi_bytes([instrument([note(0, 4, 60)])], meter=meter)
    assert len(extract_melodies(load_midi_bytes(data))) == 1


def test_drum_only_file_yields_no_melody():
    data = midi_bytes([instrument([note(0, 1, 36), note(4, 5, 38)], is_drum=True)])
    assert extract_melodies(load_midi_bytes(data)) == []


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "not a Standard MIDI File"),
        (b"MThd\x00\x00\x00\x06\x00\x01", "truncated"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0XXXX\x00\x00\x00\x04", "corrupt"),
    ],
)
def test_empty_foreign_truncated_and_corrupt_bytes_raise_a_clear_error(data, message):
    with pytest.raises(MidiInputError, match=message):
        load_midi_bytes(data)


def test_every_truncation_of_a_real_file_is_refused_with_a_midi_input_error_and_the_whole_file_reads():
    data = two_instrument_song()
    for cut in range(len(data)):
        with pytest.raises(MidiInputError, match=r"\w"):
            load_midi_bytes(data[:cut])
    assert len(extract_melodies(load_midi_bytes(data))) == 2


def test_random_byte_corruption_gives_valid_melodies_or_a_midi_input_error_never_another_exception():
    data = bytearray(two_instrument_song())
    rng = np.random.default_rng(0)
    outcomes = {"read": 0, "refused": 0}
    for _ in range(300):
        corrupt = bytearray(data)
        for position in rng.integers(14, len(data), size=3):
            corrupt[position] = rng.integers(0, 256)
        try:
            melodies = extract_melodies(load_midi_bytes(bytes(corrupt)))
        except MidiInputError as error:
            assert str(error), "a refusal says why"
            outcomes["refused"] += 1
            continue
        for extracted in melodies:
            validate_melody(extracted.melody)  # raises for anything but a valid token sequence
        outcomes["read"] += 1
    assert outcomes == {"read": 51, "refused": 249}, "both outcomes occur: the corruption reaches the parser"


def test_size_message_and_tick_caps_are_enforced():
    data = two_instrument_song()
    with pytest.raises(MidiInputError, match="larger than the limit"):
        load_midi_bytes(data, MidiLimits(max_bytes=len(data) - 1))
    with pytest.raises(MidiInputError, match="events, more than the limit"):
        load_midi_bytes(data, MidiLimits(max_messages=5))
    with pytest.raises(MidiInputError, match="ticks, more than the limit"):
        load_midi_bytes(data, MidiLimits(max_ticks=100))


def test_files_on_a_very_fine_tick_grid_are_retimed_not_rejected():
    import pretty_midi

    melody = melody_from_notes([0, 3, 5, 17], [3, 5, 9, 30], [60, 61, 90, 30])
    coarse = melody_to_pretty_midi(melody)
    fine = pretty_midi.PrettyMIDI(resolution=10080, initial_tempo=120.0)
    fine.instruments = coarse.instruments
    long_rest = pretty_midi.Note(velocity=1, pitch=50, start=2000.0, end=2000.5)  # 1000 bars later
    fine.instruments[0].notes.append(long_rest)
    loaded = load_midi_bytes(pretty_midi_to_bytes(fine))  # 16M ticks at 10080 per quarter
    assert loaded.resolution == 960
    (extracted,) = extract_melodies(loaded)
    np.testing.assert_array_equal(extracted.melody[:32], melody)


def test_smpte_time_division_is_rejected():
    data = bytearray(two_instrument_song())
    data[12:14] = b"\xe7\x28"  # -25 fps, 40 ticks per frame
    with pytest.raises(MidiInputError, match="SMPTE"):
        load_midi_bytes(bytes(data))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"program": 128}, "Program"), ({"tempo_bpm": 5}, "Tempo must lie")],
)
def test_melody_to_midi_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        melody_to_pretty_midi(np.zeros(32, np.int8), **kwargs)


def test_a_melody_ending_in_rests_keeps_its_full_length_in_midi():
    melody = np.zeros(4 * 16, np.int8)
    melody[0] = pitch_to_token(60)  # one note in bar 1, then rests to the end of bar 4
    midi = melody_to_pretty_midi(melody, tempo_bpm=120)
    assert midi.get_end_time() == pytest.approx(8.0)
    assert [note.pitch for note in midi.instruments[0].notes] == [60]


def test_the_midi_carries_the_melody_s_key_and_meter_and_accents_the_beat_over_a_phrase_swell():
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]
    melody = np.zeros(8 * 16, np.int8)
    melody[::4] = [pitch_to_token(d_major[i % 8]) for i in range(32)]  # quarter notes, 8 bars
    midi = melody_to_pretty_midi(melody)
    assert [(k.key_number, k.time) for k in midi.key_signature_changes] == [(2, 0.0)], "D major"
    assert [(t.numerator, t.denominator) for t in midi.time_signature_changes] == [(4, 4)]
    velocities = [note.velocity for note in midi.instruments[0].notes]
    assert velocities[:8] == [96, 86, 91, 88, 102, 91, 95, 92], "beat 1 > beat 3 > beats 2 and 4, swelling to bar 3"
    assert velocities[16:24] == velocities[:8], "every 4-bar phrase is shaped alike"
    assert {note.velocity for note in melody_to_pretty_midi(melody, dynamics=False).instruments[0].notes} == {90}


def test_off_beat_notes_are_softer_than_the_beats_around_them():
    melody = np.zeros(16, np.int8)
    melody[::2] = pitch_to_token(60)  # eighth notes through one bar
    velocities = [note.velocity for note in melody_to_pretty_midi(melody).instruments[0].notes]
    on_beats, off_beats = velocities[::2], velocities[1::2]
    assert all(off < min(on_beats) for off in off_beats)
