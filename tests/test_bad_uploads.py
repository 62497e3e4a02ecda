"""Every kind of bad upload gets a clear message or a sensible result from the Infill tab."""

import io

import mido
import numpy as np
import pytest
import gradio as gr

from core.constants import STEPS_PER_BAR
from core.midi_io import extract_melodies, load_midi_file
from demo.infill_tab import infill_melody
from tests.midi_factory import instrument, midi_bytes, note, two_instrument_song

NO_PROGRESS = lambda *args, **kwargs: None  # noqa: E731


def upload(tmp_path, content: bytes, name: str = "upload.mid") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def infill_upload(path: str, bars: str = "1-2"):
    return infill_melody(path, bars, 0, "Uploaded MIDI", steps=5, progress=NO_PROGRESS)


def tick_midi(tempo_us_per_beat: int, pitches: list[int], ticks_per_step: int = 120) -> bytes:
    """One track of consecutive sixteenth notes at a raw tempo (microseconds per beat)."""
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo_us_per_beat, time=0),
                            mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    for pitch in pitches:
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=ticks_per_step))
    midi = mido.MidiFile(ticks_per_beat=4 * ticks_per_step)
    midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("content, message", [
    (np.random.default_rng(0).bytes(4096), "cannot be used: .*not a Standard MIDI File"),
    (two_instrument_song()[:60], "cannot be used: .*truncated"),
    (b"", "cannot be used: .*empty"),
    (midi_bytes([instrument([note(0, 1, 36), note(4, 5, 38)], is_drum=True)]), "no pitched notes"),
    (midi_bytes([instrument([note(0, 4, 12), note(4, 8, 115), note(8, 12, 127)])]), "no pitched notes in MIDI 21..108"),
    (midi_bytes([instrument([note(0, 4, 60)])], meter=(7, 8)), "time signature 7/8"),
    (midi_bytes([instrument([note(0, 4, 60)])], meter=(4, 64)), "time signature 4/64"),
    (tick_midi(500_000, [60 + i % 12 for i in range(20_000)]), "1250 bars long; infilling takes at most 256"),
])
def test_bad_uploads_get_a_clear_message(tmp_path, content, message):
    with pytest.raises(gr.Error, match=message):
        infill_upload(upload(tmp_path, content))


def test_a_50_megabyte_upload_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.mid"
    with path.open("wb") as handle:
        handle.truncate(50 * 2**20)  # sparse: 50 MB without writing them
    with pytest.raises(gr.Error, match="50.0 MB, larger than the limit of 8.0 MB"):
        infill_upload(str(path))


@pytest.mark.parametrize("tempo_us_per_beat", [1, 0xFFFFFF])
def test_absurd_tempos_still_give_a_melody_on_the_beat_grid(tmp_path, tempo_us_per_beat):
    path = upload(tmp_path, tick_midi(tempo_us_per_beat, [60, 62, 64, 65] * 16))  # 4 bars of sixteenths
    assert extract_melodies(load_midi_file(path))[0].melody.size == 4 * STEPS_PER_BAR
    _original, (rate, result), _roll, midi_path, _wav = infill_upload(path, "1-2")
    assert result.size > 8 * rate, "4 bars at 120 BPM: the app plays at its own tempo"


def test_twenty_thousand_notes_in_dense_chords_give_a_sensible_result(tmp_path):
    chords = [note(step, step + 1, 40 + (step * 7 + voice) % 60) for step in range(250) for voice in range(80)]
    path = upload(tmp_path, midi_bytes([instrument(chords)]))
    _original, _result, roll, midi_path, _wav = infill_upload(path, "5-8")
    melody = extract_melodies(load_midi_file(midi_path))[0].melody
    assert len(chords) == 20_000 and melody.size == 16 * STEPS_PER_BAR
