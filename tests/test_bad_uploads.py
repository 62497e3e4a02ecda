"""Every kind of bad or hostile upload gets a clear message (in bounded time and memory) or a sensible
result from the tabs that read files."""

import dataclasses
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import gradio as gr
import mido
import numpy as np
import pretty_midi
import pytest
import soundfile

from core.music.constants import STEPS_PER_BAR
from core.music.midi_io import UPLOAD_LIMITS, MidiInputError, extract_melodies, load_midi_file
from core.music.upload_reader import read_melody_lines
from demo.audition import describe_and_render
from demo.infill_tab import infill_melody
from demo.outputs import render_preview
from tests.midi_factory import instrument, midi_bytes, note, two_instrument_song

pytestmark = pytest.mark.slow  # reads crafted files of hundreds of thousands of events

NO_PROGRESS = lambda *args, **kwargs: None  # noqa: E731


def upload(tmp_path, content: bytes, name: str = "upload.mid") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def infill_upload(path: str, bars: str = "1-2"):
    """The Infill tab's first answer for the upload: (roll, MIDI path, original's preview, result's preview)."""
    return infill_melody(path, bars, 0, "Uploaded MIDI", steps=5, progress=NO_PROGRESS)[:4]


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
    (tick_midi(500_000, [60 + i % 12 for i in range(20_000)]), "1250 bars long; at most 256 bars are read"),
], ids=["random bytes", "truncated", "empty", "drums only", "out of range", "7/8", "4/64", "1250 bars"])
def test_bad_uploads_get_a_clear_message(tmp_path, content, message):
    with pytest.raises(gr.Error, match=message):
        infill_upload(upload(tmp_path, content))


def raw_midi(tracks: list[list[mido.Message | mido.MetaMessage]], ticks_per_beat: int = 480,
             declared_tracks: int | None = None) -> bytes:
    """A type-1 file of `tracks` (delta times as given); `declared_tracks` overrides the header's count."""
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    midi.tracks.extend(mido.MidiTrack(track) for track in tracks)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    data = buffer.getvalue()
    return data if declared_tracks is None else data[:10] + declared_tracks.to_bytes(2, "big") + data[12:]


def one_long_note(end_tick: int) -> list:
    return [mido.Message("note_on", note=60, velocity=80, time=0), mido.Message("note_off", note=60, time=end_tick)]


ATTACKS = {  # what a hostile visitor of a public Space sends (each well under the 8 MB upload limit)
    # 150 tracks at 1 tick per beat, each one note lasting 3,999,000 beats: 2.3 GB of melody arrays once
    "150 tracks of one endless note": (raw_midi([one_long_note(3_999_000)] * 150, ticks_per_beat=1),
                                       "150 tracks with notes; at most 64 are read"),
    "500,000 notes": (raw_midi([[mido.Message("note_on" if i % 2 == 0 else "note_off", note=60, velocity=80, time=1)
                                 for i in range(1_000_000)]]), "more than the limit of 200000|took longer than"),
    "500,000 tempo changes": (raw_midi([[mido.MetaMessage("set_tempo", tempo=400_000 + i % 1000, time=0)
                                         for i in range(500_000)] + one_long_note(480)]),
                              "more than the limit of 200000|took longer than"),
    "a header claiming 65,535 tracks": (raw_midi([one_long_note(480)], declared_tracks=65_535),
                                        "header declares 65535 tracks but only 0 could be read"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_crafted_uploads_get_a_clear_error_from_every_tab_that_reads_files(tmp_path, attack):
    content, message = ATTACKS[attack]
    assert len(content) < 8 * 2**20
    path = upload(tmp_path, content)
    with pytest.raises(gr.Error, match=message):
        infill_upload(path)
    with pytest.raises(gr.Error, match=message):
        describe_and_render(path, "Flute", 120, 1)


def test_a_file_that_takes_too_long_to_read_is_cut_off_at_the_time_budget(tmp_path):
    content, _ = ATTACKS["500,000 tempo changes"]
    budget = dataclasses.replace(UPLOAD_LIMITS, max_messages=10**7, timeout_s=1.0)
    with pytest.raises(MidiInputError, match="took longer than 1 s"):
        read_melody_lines(upload(tmp_path, content), budget)
    assert read_melody_lines(upload(tmp_path, two_instrument_song(), "fine.mid"))[0].name == "lead", \
        "the next file is read normally"


def test_the_150_track_file_is_refused_before_any_melody_array_exists(tmp_path):
    """In a fresh interpreter: the extra peak memory of reading the attack file in-process."""
    path = upload(tmp_path, ATTACKS["150 tracks of one endless note"][0])
    script = textwrap.dedent(f"""
        import resource
        from core.music.midi_io import UPLOAD_LIMITS, MidiInputError, extract_melodies, load_midi_file
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            extract_melodies(load_midi_file({str(path)!r}, UPLOAD_LIMITS))
        except MidiInputError as error:
            print(error)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.splitlines()
    # the last two lines: pyfluidsynth (imported by pretty_midi) prints where it found its library when CI is set
    refusal, extra_megabytes = output[-2:]
    assert "150 tracks with notes" in refusal
    assert int(extra_megabytes) < 300, f"{extra_megabytes} MB extra peak memory"


def test_a_50_megabyte_upload_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.mid"
    with path.open("wb") as handle:
        handle.truncate(50 * 2**20)  # sparse: 50 MB without writing them
    with pytest.raises(gr.Error, match="50.0 MB, larger than the limit of 8.0 MB"):
        infill_upload(str(path))


@pytest.mark.parametrize("tempo_us_per_beat, kept_bpm", [(1, 300), (0xFFFFFF, 20)])
def test_absurd_tempos_still_give_a_melody_on_the_beat_grid_at_the_nearest_tempo_allowed(tmp_path, tempo_us_per_beat,
                                                                                        kept_bpm):
    path = upload(tmp_path, tick_midi(tempo_us_per_beat, [60, 62, 64, 65] * 16))  # 4 bars of sixteenths
    assert extract_melodies(load_midi_file(path))[0].melody.size == 4 * STEPS_PER_BAR
    _roll, midi_path, _original, result = infill_upload(path, "1-2")
    assert pretty_midi.PrettyMIDI(midi_path).get_tempo_changes()[1] == pytest.approx([kept_bpm], abs=0.01)
    samples, rate = soundfile.read(render_preview(result))
    seconds = 4 * 4 * 60 / kept_bpm  # the file's tempo, kept within 20..300 BPM
    assert seconds <= samples.size / rate <= seconds + 2.0


def test_twenty_thousand_notes_in_dense_chords_give_a_sensible_result(tmp_path):
    chords = [note(step, step + 1, 40 + (step * 7 + voice) % 60) for step in range(250) for voice in range(80)]
    path = upload(tmp_path, midi_bytes([instrument(chords)]))
    roll, midi_path, _original, _result = infill_upload(path, "5-8")
    melody = extract_melodies(load_midi_file(midi_path))[0].melody
    assert len(chords) == 20_000 and melody.size == 16 * STEPS_PER_BAR
