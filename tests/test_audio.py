"""Specification of FluidSynth rendering (core.audio) and its CLI."""

import wave

import numpy as np
import pytest
import soundfile

import core.audio as audio
from core.audio import (
    PEAK_LEVEL,
    RELEASE_TAIL_S,
    MidiSynth,
    render_midi,
    resolve_soundfont,
    retime_to_tempo,
    write_audio,
    write_wav,
)
from core.audio.__main__ import main as audio_cli
from core.music.melody import melody_from_notes
from core.music.midi_io import load_midi_bytes, melody_to_pretty_midi, pretty_midi_to_bytes

SAMPLE_RATE = 22_050


@pytest.fixture(scope="module")
def scale_midi():
    """Eight quarter notes at 120 BPM: 4 s of music, notes only in the first 4 s."""
    melody = melody_from_notes(np.arange(0, 32, 4), np.arange(4, 36, 4), [60, 62, 64, 65, 67, 69, 71, 72])
    return melody_to_pretty_midi(melody, tempo_bpm=120.0)


def read_wav(path) -> tuple[np.ndarray, int]:
    """A 16-bit mono WAV as (samples (N,) float32 in [-1, 1], sample rate)."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2 and wav.getnchannels() == 1
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768.0, \
            wav.getframerate()


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def test_render_has_the_expected_duration_and_is_audible(scale_midi):
    samples = render_midi(scale_midi, sample_rate=SAMPLE_RATE)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size == round((4.0 + RELEASE_TAIL_S) * SAMPLE_RATE)
    assert np.abs(samples).max() == pytest.approx(PEAK_LEVEL, abs=1e-4)
    per_second = [rms(samples[i * SAMPLE_RATE : (i + 1) * SAMPLE_RATE]) for i in range(4)]
    assert min(per_second) > 0.02, f"every second with notes must sound, got RMS {per_second}"


def test_a_melody_of_rests_renders_silence_of_its_full_length():
    silent = melody_to_pretty_midi(np.zeros(32, np.int8))  # 2 bars at 120 BPM
    samples = render_midi(silent, sample_rate=SAMPLE_RATE)
    assert samples.size == round((4.0 + RELEASE_TAIL_S) * SAMPLE_RATE)
    assert not samples.any()


def test_renders_do_not_leak_into_each_other(scale_midi):
    first = render_midi(scale_midi, sample_rate=SAMPLE_RATE)
    second = render_midi(scale_midi, sample_rate=SAMPLE_RATE)
    np.testing.assert_allclose(first, second, atol=0.01)


def test_program_changes_the_timbre(scale_midi):
    piano = render_midi(scale_midi, program=0, sample_rate=SAMPLE_RATE)
    flute = render_midi(scale_midi, program=73, sample_rate=SAMPLE_RATE)
    assert piano.shape == flute.shape
    assert np.abs(piano - flute).mean() > 0.01


def test_wav_file_round_trips_samples(tmp_path, scale_midi):
    samples = render_midi(scale_midi, sample_rate=SAMPLE_RATE)
    write_wav(tmp_path / "a.wav", samples, SAMPLE_RATE)
    loaded, rate = read_wav(tmp_path / "a.wav")
    assert rate == SAMPLE_RATE
    np.testing.assert_allclose(loaded, samples, atol=1 / 16000)


def test_ogg_vorbis_keeps_the_length_and_sound_at_a_tenth_of_the_size(tmp_path, scale_midi):
    samples = render_midi(scale_midi, sample_rate=SAMPLE_RATE)
    write_audio(tmp_path / "a.ogg", samples, SAMPLE_RATE)
    write_audio(tmp_path / "a.wav", samples, SAMPLE_RATE)
    loaded, rate = soundfile.read(tmp_path / "a.ogg", dtype="float32")
    assert rate == SAMPLE_RATE and loaded.shape == samples.shape
    assert abs(rms(loaded) - rms(samples)) < 0.05 * rms(samples)
    assert (tmp_path / "a.ogg").stat().st_size < (tmp_path / "a.wav").stat().st_size / 5
    with pytest.raises(ValueError, match="must end in .wav or .ogg"):
        write_audio(tmp_path / "a.mp4", samples, SAMPLE_RATE)


def test_cli_renders_a_project_midi_file_to_an_audible_wav(tmp_path, scale_midi):
    (tmp_path / "x.mid").write_bytes(pretty_midi_to_bytes(scale_midi))
    audio_cli([str(tmp_path / "x.mid"), str(tmp_path / "x.wav"), "--program", "40", "--tempo", "60",
               "--sample-rate", str(SAMPLE_RATE)])
    samples, rate = read_wav(tmp_path / "x.wav")
    assert samples.size == round((8.0 + RELEASE_TAIL_S) * rate), "60 BPM doubles the 4 s melody"
    assert rms(samples) > 0.02


def test_cli_reports_a_corrupt_midi_file(tmp_path, capsys):
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(SystemExit):
        audio_cli([str(tmp_path / "bad.mid"), str(tmp_path / "bad.wav")])
    assert "MIDI file is" in capsys.readouterr().err


def test_retime_to_tempo_stretches_time(scale_midi):
    midi = load_midi_bytes(pretty_midi_to_bytes(scale_midi))
    retime_to_tempo(midi, 240.0)
    assert midi.get_end_time() == pytest.approx(2.0)


def test_the_systems_general_midi_font_is_preferred_to_the_bundled_one_where_installed(tmp_path, monkeypatch):
    monkeypatch.delenv("MELODY_SOUNDFONT", raising=False)
    installed = tmp_path / "FluidR3_GM.sf2"
    monkeypatch.setattr(audio, "SYSTEM_SOUNDFONTS", (tmp_path / "absent.sf2", installed))
    assert resolve_soundfont() == audio.BUNDLED_SOUNDFONT, "none installed: the font inside pretty_midi"
    installed.write_bytes(b"RIFF")
    assert resolve_soundfont() == installed
    monkeypatch.setenv("MELODY_SOUNDFONT", str(audio.BUNDLED_SOUNDFONT))
    assert resolve_soundfont() == audio.BUNDLED_SOUNDFONT, "the environment variable comes first"


def test_bad_audio_settings_raise_value_errors(tmp_path, monkeypatch, scale_midi):
    with pytest.raises(ValueError, match="Program \\(General MIDI instrument\\) must be a whole number"):
        render_midi(scale_midi, program=200)
    with pytest.raises(ValueError, match="soundfont .* is not a file"):
        resolve_soundfont(tmp_path / "missing.sf2")
    monkeypatch.setenv("MELODY_SOUNDFONT", str(tmp_path / "nope.sf2"))
    with pytest.raises(ValueError, match=r"\$MELODY_SOUNDFONT"):
        resolve_soundfont()
    with pytest.raises(ValueError, match="sample_rate must lie"):
        MidiSynth(sample_rate=100)
    with pytest.raises(ValueError, match="Tempo must lie"):
        retime_to_tempo(scale_midi, 1000)
    with pytest.raises(ValueError, match="mono"):
        write_wav(tmp_path / "s.wav", np.zeros((10, 2)))


def test_no_note_of_one_render_sounds_in_the_next(scale_midi):
    long_note = melody_to_pretty_midi(melody_from_notes([0], [32], [60]))
    render_midi(long_note, sample_rate=SAMPLE_RATE)
    silent = render_midi(melody_to_pretty_midi(np.zeros(32, np.int8)), sample_rate=SAMPLE_RATE)
    assert not silent.any()
