"""Files the app hands out: fresh paths per request, stale ones cleaned up, safe under concurrency."""

import os
import subprocess
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile
from gradio.utils import get_upload_folder

from core.music.melody import pitch_to_token
from core.music.midi_io import melody_to_pretty_midi
from demo import outputs


def test_output_paths_are_fresh_and_files_older_than_an_hour_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUT_DIR", tmp_path)
    stale, recent = tmp_path / "melody-1-old.ogg", tmp_path / "melody-2-new.ogg"
    for path in (stale, recent):
        path.write_bytes(b"RIFF")
    two_hours_ago = time.time() - 2 * outputs.OUTPUT_MAX_AGE_S
    os.utime(stale, (two_hours_ago, two_hours_ago))

    first = outputs.fresh_output_path("melody-0", ".mid")
    second = outputs.fresh_output_path("melody-0", ".mid")

    assert not stale.exists() and recent.exists()
    assert first != second and first.name.startswith("melody-0-") and first.suffix == ".mid"
    assert first.is_file() and first.stat().st_size == 0, "created, so that no other request takes the name"


def test_a_file_removed_by_a_concurrent_request_does_not_break_the_cleanup(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUT_DIR", tmp_path)
    listed = Path.iterdir
    # another request deleted this file between our listing of the folder and our look at it
    monkeypatch.setattr(Path, "iterdir", lambda folder: iter([folder / "infill-0-gone.ogg", *listed(folder)]))

    midi_path = outputs.fresh_output_path("infill-1", ".mid")

    assert midi_path.is_file()


def test_past_the_byte_budget_the_oldest_results_go_first(tmp_path):
    now = time.time()
    for age, name in enumerate(["newest", "middle", "oldest"]):
        path = tmp_path / f"{name}.ogg"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age, now - age))
    outputs.clean_output_folder(tmp_path, max_age_s=3600, max_bytes=2500)
    assert sorted(path.stem for path in tmp_path.iterdir()) == ["middle", "newest"]
    outputs.clean_output_folder(tmp_path, max_age_s=3600, max_bytes=0)
    assert not list(tmp_path.iterdir())


def test_each_app_process_writes_into_its_own_output_folder_inside_gradios_cache():
    assert outputs.OUTPUT_DIR.name == f"latent-melodies-{os.getpid()}"
    assert outputs.OUTPUT_DIR.parent == Path(get_upload_folder()), \
        "Gradio serves files of its cache folder as they are, without a second copy outside the byte budget"


def test_the_output_folders_of_ended_app_processes_are_removed_and_the_others_kept(tmp_path):
    child = subprocess.Popen(["true"])
    child.wait()  # ended and reaped: no process has its pid now
    ended_pid = child.pid
    folders = {name: tmp_path / name for name in (f"latent-melodies-{ended_pid}", f"latent-melodies-{os.getpid()}",
                                                   "latent-melodies-notes", "gradio-upload")}
    for folder in folders.values():
        folder.mkdir()
        (folder / "melody.mid").write_bytes(b"MThd")
    assert outputs.remove_abandoned_output_folders(tmp_path) == [folders[f"latent-melodies-{ended_pid}"]]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(set(folders) - {f"latent-melodies-{ended_pid}"})


def test_audio_longer_than_the_renderer_allows_is_refused_with_what_to_do_instead(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUT_DIR", tmp_path)
    melody = np.zeros(256 * 16, np.int8)
    melody[::16] = pitch_to_token(60)
    preview = outputs.audio_preview(melody_to_pretty_midi(melody, tempo_bpm=20, program=0))
    with pytest.raises(gr.Error, match="No audio preview: the MIDI lasts 51 minutes.*fewer bars or a faster tempo"):
        outputs.render_preview(preview)
    assert not preview.path.exists()


def test_a_preview_is_ogg_vorbis_unless_the_page_plays_only_mp3_and_either_reads_back_at_the_preview_rate(
        tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUT_DIR", tmp_path)
    melody = np.zeros(4 * 16, np.int8)
    melody[::4] = pitch_to_token(67)
    preview = outputs.audio_preview(melody_to_pretty_midi(melody, tempo_bpm=120, program=73))
    paths = {choice: Path(outputs.render_preview(preview, choice)) for choice in (None, ".ogg", ".mp3", "flac")}
    assert [path.suffix for path in paths.values()] == [".ogg", ".ogg", ".mp3", ".ogg"], "anything else: Ogg"
    assert paths[".mp3"].with_suffix(".ogg") == preview.path
    formats = {path.suffix: soundfile.info(str(path)) for path in paths.values()}
    assert (formats[".ogg"].format, formats[".mp3"].format) == ("OGG", "MP3")
    for info in formats.values():
        assert info.samplerate == outputs.PREVIEW_SAMPLE_RATE and 8.0 <= info.duration <= 9.5, "4 bars at 120: 8 s"


def test_sampling_fills_the_first_85_percent_of_one_bar_once_per_percent_and_the_audio_goes_on_from_there():
    from core.progress import SamplerProgress
    from demo.outputs import AUDIO_START, SAMPLING_SHARE, play_preview, progress_reporter

    calls = []
    report = progress_reporter(lambda fraction, desc: calls.append((fraction, desc)))
    for done in range(1, 1001):
        report(SamplerProgress(done, 1000, None))
    assert len(calls) == 86 and calls[0] == (0.0, "Sampling: step 1 of 1000")
    assert calls[-1] == (SAMPLING_SHARE, "Sampling: step 1000 of 1000")
    play_preview(None, None, progress=lambda fraction, desc: calls.append((fraction, desc)))
    assert calls[-1] == (AUDIO_START, "Rendering the audio") and SAMPLING_SHARE < AUDIO_START < 1


def test_a_refused_value_is_quoted_short_and_says_what_kind_it_is():
    from core.limits import MAX_SHOWN_CHARS, check_tempo, shown
    from demo.outputs import refused_if_invalid, whole_number

    assert shown(2.5) == "2.5" and shown("120") == "'120' (text)" and shown([1]) == "[1] (a list)"
    assert len(shown("x" * 10**6)) <= MAX_SHOWN_CHARS + len(" (text)")
    with pytest.raises(gr.Error, match=r"Tempo must lie between 20 and 300 BPM, got '120' \(text\)"):
        refused_if_invalid(check_tempo, "120")
    with pytest.raises(gr.Error, match="Bars must be a whole number from 2 to 256, got 18446744073709551616"):
        whole_number(2**64, "Bars", 2, 256)


def test_a_result_s_audio_preview_plays_the_very_midi_its_download_holds(tmp_path, monkeypatch):
    from core.music.midi_io import pretty_midi_to_bytes
    from core.requests import GenerationRequest

    monkeypatch.setattr(outputs, "OUTPUT_DIR", tmp_path)
    request = GenerationRequest.of(bars=4, steps=5, tempo_bpm=90, program=40)
    result = outputs.shared_pipeline().generate(request)[0]
    roll, midi_path, preview = outputs.publish(result, request.render, "melody", "four bars")
    assert preview.midi is result.midi
    assert pretty_midi_to_bytes(preview.midi) == Path(midi_path).read_bytes()
    assert preview.midi.instruments[0].program == 40 and preview.midi.get_tempo_changes()[1].tolist() == [90]
