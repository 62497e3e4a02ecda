"""Specification of the notation exports (core.music.notation): ABC and MusicXML that read back as the MIDI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from music21 import converter

from core.music.melody import melody_from_notes, notes_from_melody
from core.music.midi_io import extract_melodies, load_midi_bytes, melody_to_pretty_midi, pretty_midi_to_bytes
from core.music.notation import abc_text, key_fifths, key_spelling, musicxml_text
from core.requests import GenerationRequest
from tests.midi_factory import instrument, midi_bytes, note, two_instrument_song

EXAMPLES = Path(__file__).resolve().parent.parent / "demo" / "examples"


def notes_of_score(score) -> list[tuple[int, int, int]]:
    """(onset, end, MIDI pitch) in sixteenths of every note of a music21 score, tied notes joined."""
    flat = score.stripTies().flatten().notes
    return [(round(n.offset * 4), round((n.offset + n.quarterLength) * 4), n.pitch.midi) for n in flat]


def notes_of_midi(data: bytes, tempo_bpm: float = 120.0) -> list[tuple[int, int, int]]:
    """The same triples read from a MIDI file of one melody."""
    midi = load_midi_bytes(data)
    seconds_per_step = 60.0 / tempo_bpm / 4
    return [(round(n.start / seconds_per_step), round(n.end / seconds_per_step), n.pitch)
            for instrument in midi.instruments for n in sorted(instrument.notes, key=lambda n: n.start)]


def test_keys_spell_their_scale_and_the_usual_chromatic_notes():
    c_major = key_spelling(0)
    assert [c_major[pc] for pc in (0, 2, 4, 5, 7, 9, 11)] == [(letter, 0) for letter in "CDEFGAB"]
    assert [c_major[pc] for pc in (1, 3, 6, 8, 10)] == [("C", 1), ("E", -1), ("F", 1), ("G", 1), ("B", -1)]
    d_major = key_spelling(2)
    assert d_major[6] == ("F", 1) and d_major[1] == ("C", 1), "the key's sharps"
    assert d_major[0] == ("C", 0) and d_major[5] == ("F", 0), "its flat seventh and third: naturals"
    assert key_spelling(10)[3] == ("E", -1) and key_spelling(10)[4] == ("E", 0), "B-flat: E-flat, E natural"
    assert key_spelling(6)[5] == ("E", 1), "F-sharp major spells its seventh E-sharp"


def test_a_small_tune_in_d_is_written_as_a_musician_would():
    melody = melody_from_notes(np.array([0, 4, 6, 8, 12, 20, 30, 40, 50]),
                               np.array([4, 6, 8, 12, 20, 30, 40, 50, 64]),
                               np.array([62, 66, 64, 61, 62, 69, 70, 66, 62]))
    assert abc_text(melody, "Test  tune", 96.4, marked_bars=frozenset({2})) == (
        "X:1\nT:Test tune\nM:4/4\nL:1/16\nQ:1/4=96\nK:D\n"
        'D4 F2E2 C4 D4- | "^new"D4 A8- A2^A2- | ^A8 F8- | F2D2- D12 |]\n'), "notes within a beat beamed"


def test_an_altered_note_is_restored_within_its_bar_and_rests_fill_the_gaps():
    melody = melody_from_notes(np.array([2, 4, 6, 8, 12]), np.array([4, 6, 8, 12, 14]),
                               np.array([64, 67, 65, 66, 65]))  # E G F F# F: in C
    assert abc_text(melody).splitlines()[-1] == "z2E2 G2F2 ^F4 =F2z2 | z16 |]"


def test_lines_hold_four_bars():
    melody = melody_from_notes(np.arange(0, 160, 16), np.arange(8, 168, 16), np.full(10, 67))
    assert melody.size == 10 * 16
    body = abc_text(melody).splitlines()[6:]
    assert [line.count("|") for line in body] == [4, 4, 2], "10 bars: two lines of four, then two ending |]"
    assert body[-1].endswith(" |]") and body[0].endswith(" |")


def upload_melodies() -> list[tuple[str, np.ndarray]]:
    """The melodies of 5 uploads: the app's three examples, a two-instrument song, a chromatic run."""
    uploads = [(path.name, path.read_bytes()) for path in sorted(EXAMPLES.glob("*.mid"))]
    uploads += [("two instruments", two_instrument_song()),
                ("chromatic run", midi_bytes([instrument([note(2 * i, 2 * i + 3, 60 + i) for i in range(24)])]))]
    return [(name, extract_melodies(load_midi_bytes(data))[0].melody) for name, data in uploads]


def generated_melodies(pipeline) -> list[tuple[str, np.ndarray]]:
    """20 melodies of the committed model in four keys (16 bars, fast sampler)."""
    melodies = []
    for key in ("D", "Eb", "F#", "Bb"):
        request = GenerationRequest.of(bars=16, key=key, seeds=tuple(range(5)))
        melodies += [(f"generated in {key}, seed {r.seed}", r.melody) for r in pipeline.generate(request)]
    return melodies


@pytest.mark.slow
def test_abc_and_musicxml_read_back_as_the_same_notes_as_the_midi(committed_pipeline):
    cases = generated_melodies(committed_pipeline) + upload_melodies()
    assert len(cases) == 25
    for name, melody in cases:
        expected = notes_of_midi(pretty_midi_to_bytes(melody_to_pretty_midi(melody, tempo_bpm=120.0)))
        assert expected == [(int(s), int(e), int(p)) for s, e, p in zip(*notes_from_melody(melody))]
        abc = abc_text(melody, marked_bars=frozenset({1, 3}))
        assert notes_of_score(converter.parse(abc, format="abc")) == expected, f"ABC of {name}"
        assert notes_of_score(converter.parse(musicxml_text(melody), format="musicxml")) == expected, \
            f"MusicXML of {name}"


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi (Debian package abcmidi) is not installed")
def test_abc2midi_accepts_the_abc_and_plays_the_same_notes(tmp_path):
    for index, (name, melody) in enumerate(upload_melodies()):
        (tmp_path / f"{index}.abc").write_text(abc_text(melody, tempo_bpm=120.0))
        run = subprocess.run(["abc2midi", f"{index}.abc", "-o", f"{index}.mid"], cwd=tmp_path,
                             capture_output=True, text=True)
        assert run.returncode == 0 and "Error" not in run.stdout + run.stderr, f"{name}: {run.stdout}{run.stderr}"
        expected = [(int(s), int(e), int(p)) for s, e, p in zip(*notes_from_melody(melody))]
        assert notes_of_midi((tmp_path / f"{index}.mid").read_bytes()) == expected, name


def test_the_musicxml_carries_key_meter_tempo_bar_numbers_and_a_system_every_four_bars():
    melody = melody_from_notes(np.arange(0, 160, 16), np.arange(8, 168, 16),
                               np.array([67, 71, 74, 66, 67, 72, 74, 66, 67, 79]))  # G major (F#, C)
    score = converter.parse(musicxml_text(melody, "A & B", 96, marked_bars=frozenset({5})), format="musicxml")
    part = score.parts[0]
    measures = part.getElementsByClass("Measure")
    assert [m.number for m in measures] == list(range(1, 11))
    assert part.flatten().getElementsByClass("KeySignature")[0].sharps == 1
    assert part.flatten().getElementsByClass("TimeSignature")[0].ratioString == "4/4"
    assert part.flatten().getElementsByClass("MetronomeMark")[0].number == 96
    assert score.metadata.title == "A & B"
    assert [m.number for m in measures if any(layout.isNew for layout in m.getElementsByClass("SystemLayout"))] \
        == [5, 9]
    assert [m.number for m in measures if m.getElementsByClass("TextExpression")] == [5]
    assert [key_fifths(tonic) for tonic in range(12)] == [0, -5, 2, -3, 4, -1, 6, 1, -4, 3, -2, 5]
