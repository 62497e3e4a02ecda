"""Files the app hands out: fresh paths per request, stale ones cleaned up, safe under concurrency."""

import os
import time
from pathlib import Path

from demo import outputs


def test_output_paths_are_fresh_and_files_older_than_an_hour_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUT_DIR", tmp_path)
    stale, recent = tmp_path / "melody-1-old.ogg", tmp_path / "melody-2-new.ogg"
    for path in (stale, recent):
        path.write_bytes(b"RIFF")
    two_hours_ago = time.time() - 2 * outputs.OUTPUT_MAX_AGE_S
    os.utime(stale, (two_hours_ago, two_hours_ago))

    first_midi, first_audio = outputs.fresh_output_paths("melody-0")
    second_midi, _ = outputs.fresh_output_paths("melody-0")

    assert not stale.exists() and recent.exists()
    assert first_midi != second_midi and first_midi.name.startswith("melody-0-")
    assert first_audio == first_midi.with_suffix(".ogg")


def test_a_file_removed_by_a_concurrent_request_does_not_break_the_cleanup(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUT_DIR", tmp_path)
    listed = Path.iterdir
    # another request deleted this file between our listing of the folder and our look at it
    monkeypatch.setattr(Path, "iterdir", lambda folder: iter([folder / "infill-0-gone.ogg", *listed(folder)]))

    midi_path, _ = outputs.fresh_output_paths("infill-1")

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


def test_each_app_process_writes_into_its_own_output_folder():
    assert outputs.OUTPUT_DIR.name == f"latent-melodies-{os.getpid()}"
