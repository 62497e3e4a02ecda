"""Specification of the musicality metrics (core.music.musicality) and their MIDI-folder CLI (eval_lab.folder_musicality), on hand-written melodies."""

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from core.music.constants import FIRST_NOTE_TOKEN, MIN_PITCH, NO_EVENT, NOTE_OFF, STEPS_PER_BAR
from core.music.musicality import (
    INTERVAL_PROFILE_NAMES,
    METRIC_LABELS,
    METRIC_NAMES,
    MusicalityScores,
    average_cadence_profile,
    average_interval_profile,
    average_seam_profile,
    cadence_profile,
    form_profile,
    in_scale_share,
    interval_profile,
    leap_share,
    longest_silence_bars,
    melody_scores,
    musicality,
    notes_per_bar,
    pitch_range,
    repeated_pattern_share,
    seam_profile,
    silent_bar_share,
    transposed_pattern_share,
)
from eval_lab.folder_musicality import main
from tests.midi_factory import instrument, midi_bytes, note

C4, D4, E4, F4, FS4, G4, GS4, A4, B4, C5 = 60, 62, 64, 65, 66, 67, 68, 69, 71, 72

Notes = list[tuple[int, int, int]]  # (start step, duration in steps, MIDI pitch)


def melody(notes: Notes, bars: int) -> np.ndarray:
    """(bars * 16,) int8 tokens holding `notes`; a note's NOTE_OFF is dropped where the next starts."""
    tokens = np.full(bars * STEPS_PER_BAR, NO_EVENT, dtype=np.int8)
    for start, duration, pitch in sorted(notes):
        tokens[start] = pitch - MIN_PITCH + FIRST_NOTE_TOKEN
        end = start + duration
        if end < tokens.size and tokens[end] == NO_EVENT:
            tokens[end] = NOTE_OFF
    return tokens


def shifted(notes: Notes, steps: int = 0, semitones: int = 0) -> Notes:
    return [(start + steps, duration, pitch + semitones) for start, duration, pitch in notes]


# Four bars, quarter notes: C D E F | G - - - | (rest bar) | C E G C'
FOUR_BARS = [(0, 4, C4), (4, 4, D4), (8, 4, E4), (12, 4, F4), (16, 4, G4),
             (48, 4, C4), (52, 4, E4), (56, 4, G4), (60, 4, C5)]
# One 2-bar motif and a different one, both ending on the chunk's last step.
MOTIF_A = [(0, 4, C4), (4, 4, E4), (8, 8, G4), (16, 16, C5)]
MOTIF_B = [(0, 8, D4), (8, 8, F4), (16, 16, A4)]
SILENT_TWO_BARS = melody([], bars=2)


# --- the four-bar example, metric by metric -------------------------------------------

def test_four_bar_example_has_nine_onsets_in_four_bars():
    assert notes_per_bar(melody(FOUR_BARS, 4)) == 9 / 4


def test_four_bar_example_has_one_bar_in_four_without_an_onset():
    assert silent_bar_share(melody(FOUR_BARS, 4)) == 0.25


def test_four_bar_example_is_silent_longest_from_g_to_the_last_bar():
    # G ends at step 20, the next C starts at step 48: 28 steps = 1.75 bars.
    assert longest_silence_bars(melody(FOUR_BARS, 4)) == 1.75


def test_four_bar_example_spans_an_octave():
    assert pitch_range(melody(FOUR_BARS, 4)) == 12


def test_four_bar_example_has_no_leap_because_a_fifth_is_not_one():
    # Intervals +2 +2 +1 +2 -7 +4 +3 +5: the fifth down (G -> C) is not larger than 7.
    assert leap_share(melody(FOUR_BARS, 4)) == 0.0


def test_four_bar_example_is_all_in_c_major():
    assert in_scale_share(melody(FOUR_BARS, 4)) == 1.0


def test_four_bar_example_repeats_no_pattern():
    assert repeated_pattern_share(melody(FOUR_BARS, 4)) == 0.0
    assert transposed_pattern_share(melody(FOUR_BARS, 4)) == 0.0


def test_melody_scores_gathers_the_eight_metrics():
    scores = melody_scores(melody(FOUR_BARS, 4))
    assert scores == MusicalityScores(
        notes_per_bar=2.25, silent_bar_share=0.25, longest_silence_bars=1.75, pitch_range=12.0,
        leap_share=0.0, in_scale_share=1.0, repeated_pattern_share=0.0, transposed_pattern_share=0.0,
    )
    assert list(scores.as_dict()) == list(METRIC_NAMES)


# --- rhythm and silence ----------------------------------------------------------------

def test_a_held_note_does_not_give_a_bar_an_onset():
    whole_two_bars = melody([(0, 32, C4)], bars=2)
    assert notes_per_bar(whole_two_bars) == 0.5
    assert silent_bar_share(whole_two_bars) == 0.5
    assert longest_silence_bars(whole_two_bars) == 0.0


def test_leading_and_trailing_silence_count():
    late = melody([(40, 4, C4)], bars=4)  # 40 steps before it, 20 after it
    assert longest_silence_bars(late) == 2.5
    early = melody([(0, 4, C4)], bars=4)  # 60 steps after it
    assert longest_silence_bars(early) == 3.75


def test_notes_that_touch_leave_no_silence():
    legato = melody([(0, 16, C4), (16, 16, D4)], bars=2)
    assert longest_silence_bars(legato) == 0.0


def test_a_silent_melody_has_no_notes_and_is_silent_throughout():
    assert notes_per_bar(SILENT_TWO_BARS) == 0.0
    assert silent_bar_share(SILENT_TWO_BARS) == 1.0
    assert longest_silence_bars(SILENT_TWO_BARS) == 2.0


# --- pitch -----------------------------------------------------------------------------

def test_pitch_range_is_zero_for_one_pitch_and_nan_without_notes():
    assert pitch_range(melody([(0, 4, A4)], bars=2)) == 0.0
    assert pitch_range(melody([(0, 4, A4), (8, 4, A4)], bars=2)) == 0.0
    assert math.isnan(pitch_range(SILENT_TWO_BARS))


def test_a_leap_of_nine_semitones_is_a_leap():
    up_a_sixth = melody([(0, 4, C4), (4, 4, A4), (8, 4, G4)], bars=2)  # +9, -2
    assert leap_share(up_a_sixth) == 0.5


def test_leaps_start_above_seven_semitones_either_way():
    assert leap_share(melody([(0, 4, C4), (4, 4, GS4), (8, 4, 61)], bars=2)) == 0.5  # +8, -7
    assert leap_share(melody([(0, 4, C5), (4, 4, E4)], bars=2)) == 1.0  # -8


def test_intervals_join_consecutive_notes_across_rests():
    assert leap_share(melody([(0, 2, C4), (40, 2, C5)], bars=4)) == 1.0


def test_leap_share_needs_two_notes():
    assert math.isnan(leap_share(melody([(0, 4, C4)], bars=2)))
    assert math.isnan(leap_share(SILENT_TWO_BARS))


def test_one_out_of_scale_note_in_eight():
    # C D E F F# G A B: C major misses F#, G major misses F; no scale holds both.
    notes = [(2 * i, 2, p) for i, p in enumerate([C4, D4, E4, F4, FS4, G4, A4, B4])]
    assert in_scale_share(melody(notes, bars=2)) == 7 / 8


def test_the_best_scale_is_chosen_among_all_twelve():
    g_major_notes = [(2 * i, 2, p) for i, p in enumerate([C4, D4, E4, FS4, G4])]
    assert in_scale_share(melody(g_major_notes, bars=2)) == 1.0
    # A harmonic minor: only G# falls outside the best scale (C major = A natural minor).
    harmonic = [(2 * i, 2, p) for i, p in enumerate([57, 59, 60, 62, 64, 65, 68])]
    assert in_scale_share(melody(harmonic, bars=2)) == 6 / 7


def test_a_chromatic_run_fits_no_scale_beyond_three_notes_in_five():
    chromatic = [(2 * i, 2, C4 + i) for i in range(5)]
    assert in_scale_share(melody(chromatic, bars=2)) == 3 / 5


def test_in_scale_share_counts_notes_not_durations_and_is_nan_without_notes():
    long_wrong_note = melody([(0, 2, C4), (2, 2, D4), (4, 2, E4), (6, 26, 61)], bars=2)
    assert in_scale_share(long_wrong_note) == 3 / 4
    assert math.isnan(in_scale_share(SILENT_TWO_BARS))


# --- repetition ------------------------------------------------------------------------

def test_a_pattern_repeated_exactly():
    aab = melody(MOTIF_A + shifted(MOTIF_A, 32) + shifted(MOTIF_B, 64), bars=6)
    assert repeated_pattern_share(aab) == 1 / 2  # chunk 2 repeats chunk 1, chunk 3 is new
    assert transposed_pattern_share(aab) == 1 / 2


def test_a_pattern_repeated_a_fifth_up_is_a_transposed_repeat_only():
    a_a5_a = melody(MOTIF_A + shifted(MOTIF_A, 32, 7) + shifted(MOTIF_A, 64), bars=6)
    assert repeated_pattern_share(a_a5_a) == 1 / 2  # only the third chunk, equal to the first
    assert transposed_pattern_share(a_a5_a) == 1.0


def test_chunks_without_onsets_are_neither_counted_nor_matched():
    a_rest_a = melody(MOTIF_A + shifted(MOTIF_A, 64), bars=6)
    assert repeated_pattern_share(a_rest_a) == 1.0
    two_rest_chunks = melody([(0, 4, C4)], bars=4)
    assert math.isnan(repeated_pattern_share(two_rest_chunks))
    assert math.isnan(transposed_pattern_share(two_rest_chunks))


def test_a_pattern_is_onset_steps_and_pitches_not_durations():
    staccato_a = [(start, 1, pitch) for start, _, pitch in MOTIF_A]
    assert repeated_pattern_share(melody(MOTIF_A + shifted(staccato_a, 32), bars=4)) == 1.0
    one_step_late = shifted(MOTIF_A, 33)
    one_step_late[-1] = (49, 15, C5)  # keep the melody inside 4 bars
    late = melody(MOTIF_A + one_step_late, bars=4)
    assert repeated_pattern_share(late) == 0.0
    assert transposed_pattern_share(late) == 0.0


def test_a_transposition_must_move_every_pitch_by_the_same_amount():
    bent = shifted(MOTIF_A, 32, 2)
    bent[-1] = (48, 16, C5 + 3)
    assert transposed_pattern_share(melody(MOTIF_A + bent, bars=4)) == 0.0


# --- averaging over a set --------------------------------------------------------------

def test_musicality_averages_each_metric_over_the_melodies_that_define_it():
    scores = musicality([melody(FOUR_BARS, 4), SILENT_TWO_BARS])
    assert scores == {
        "notes_per_bar": (2.25 + 0.0) / 2,
        "silent_bar_share": (0.25 + 1.0) / 2,
        "longest_silence_bars": (1.75 + 2.0) / 2,
        "pitch_range": 12.0,  # the silent melody has none: skipped
        "leap_share": 0.0,
        "in_scale_share": 1.0,
        "repeated_pattern_share": 0.0,
        "transposed_pattern_share": 0.0,
    }


def test_musicality_is_nan_where_no_melody_defines_a_metric_and_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = musicality([SILENT_TWO_BARS, SILENT_TWO_BARS])
    assert scores["notes_per_bar"] == 0.0
    assert math.isnan(scores["pitch_range"]) and math.isnan(scores["repeated_pattern_share"])


def test_every_metric_has_a_label():
    assert list(METRIC_LABELS) == list(METRIC_NAMES)
    assert METRIC_LABELS["leap_share"] == "intervals > 7 semitones"
    assert len(METRIC_NAMES) == 8


# --- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 32), np.int8), "melody must be a 1-D token array"),
    (np.zeros(40, np.int8), "melody length must be a positive multiple of 32 steps.*got 40"),
    (np.zeros(0, np.int8), "positive multiple of 32.*got 0"),
    (np.zeros(32, np.float32), "melody must hold integer tokens"),
    (np.full(32, 95, np.int64), r"melody: melody tokens must lie in 0\.\.89"),
])
def test_bad_melodies_are_refused_with_the_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        notes_per_bar(bad)
    with pytest.raises(ValueError, match=message):
        melody_scores(bad)


def test_musicality_names_the_bad_melody_and_refuses_an_empty_set():
    with pytest.raises(ValueError, match=r"melodies\[1\] length must be a positive multiple of 32"):
        musicality([SILENT_TWO_BARS, np.zeros(48, np.int8)])
    with pytest.raises(ValueError, match="melodies must hold at least one melody"):
        musicality([])


# --- command line ----------------------------------------------------------------------

def write_midi(path: Path, notes: Notes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(midi_bytes([instrument([note(s, s + d, p) for s, d, p in notes])]))


@pytest.fixture
def midi_dir(tmp_path: Path) -> Path:
    write_midi(tmp_path / "a.mid", FOUR_BARS)
    write_midi(tmp_path / "nested" / "b.MIDI", MOTIF_A + shifted(MOTIF_A, 32) + shifted(MOTIF_B, 64))
    (tmp_path / "nested" / "garbage.mid").write_bytes(b"this is not a MIDI file")
    (tmp_path / "notes.txt").write_text("not looked at")
    return tmp_path


def test_cli_scores_every_melody_line_and_counts_unreadable_files(midi_dir, capsys):
    main(["--midi", str(midi_dir)])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "files=2 melodies=2 skipped=1"
    expected = musicality([
        melody(FOUR_BARS, 4), melody(MOTIF_A + shifted(MOTIF_A, 32) + shifted(MOTIF_B, 64), 6),
    ])
    assert lines[1:] == [f"{name}={expected[name]:.4f}" for name in METRIC_NAMES]
    assert "repeated_pattern_share=0.2500" in lines  # (0 + 1/2) / 2
    assert "garbage.mid" in err and "MThd" in err


def test_cli_per_file_rows(midi_dir, capsys):
    main(["--midi", str(midi_dir), "--per-file"])
    rows = capsys.readouterr().out.splitlines()[1 + len(METRIC_NAMES):]
    assert rows[0].startswith("a.mid melodies=1 notes_per_bar=2.2500 silent_bar_share=0.2500")
    assert rows[1] == str(Path("nested", "b.MIDI")) + " melodies=1 " + " ".join(
        f"{name}={value:.4f}" for name, value in
        musicality([melody(MOTIF_A + shifted(MOTIF_A, 32) + shifted(MOTIF_B, 64), 6)]).items()
    )
    assert rows[2] == str(Path("nested", "garbage.mid")) + " skipped"


def test_cli_with_only_unreadable_files_reports_them_and_fails(tmp_path, capsys):
    (tmp_path / "broken.mid").write_bytes(b"MThd garbage")
    with pytest.raises(SystemExit) as exit_info:
        main(["--midi", str(tmp_path)])
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "files=0 melodies=0 skipped=1"
    assert "notes_per_bar=nan" in out and "no melody could be read" in err


@pytest.mark.parametrize("make_dir, message", [
    (lambda root: root / "missing", "--midi: no directory at"),
    (lambda root: root, "--midi: no .mid or .midi file under"),
])
def test_cli_refuses_a_missing_or_empty_directory(tmp_path, capsys, make_dir, message):
    (tmp_path / "readme.txt").write_text("no MIDI here")
    with pytest.raises(SystemExit) as exit_info:
        main(["--midi", str(make_dir(tmp_path))])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_help_runs_as_a_module():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "eval_lab.folder_musicality", "--help"], cwd=root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "--midi" in result.stdout and "--per-file" in result.stdout


def test_interval_profile_sorts_each_interval_into_its_class_and_counts_runs_of_three():
    tune = melody([(4 * i, 4, p) for i, p in enumerate([C4, C4, C4, D4, E4, E4, G4, C5 + 7])], bars=2)
    profile = interval_profile(tune)
    assert list(profile) == list(INTERVAL_PROFILE_NAMES)
    # intervals 0, 0, 2, 2, 0, 3, 12: three repeats, two steps, one skip, one leap
    assert profile["repeated_share"] == pytest.approx(3 / 7)
    assert profile["step_share"] == pytest.approx(2 / 7)
    assert profile["skip_share"] == pytest.approx(1 / 7)
    assert profile["larger_share"] == 0.0
    assert profile["leap_share"] == pytest.approx(1 / 7)
    assert profile["run_note_share"] == pytest.approx(3 / 8)  # C4 C4 C4 is a run; E4 E4 is not


def test_interval_profile_is_undefined_below_two_notes_and_averages_over_the_rest():
    single = melody([(0, 4, C4)], bars=2)
    assert all(math.isnan(value) for value in interval_profile(single).values())
    steps = melody([(0, 4, C4), (4, 4, D4)], bars=2)
    repeats = melody([(0, 4, C4), (4, 4, C4)], bars=2)
    average = average_interval_profile([single, steps, repeats])
    assert average["repeated_share"] == pytest.approx(0.5)
    assert average["step_share"] == pytest.approx(0.5)


def test_cadences_find_the_key_and_where_the_melody_rests_on_its_tonic():
    # 8 bars of quarter notes in C major; bar 4 ends on G (a half close), bar 8 on C (a full close)
    pitches = [C4, D4, E4, F4, G4, F4, E4, D4, C4, E4, G4, C5, C5, A4, A4, G4,
               C4, D4, E4, F4, G4, A4, B4, C5, B4, A4, G4, F4, E4, D4, D4, C4]
    tune = melody([(4 * i, 4, p) for i, p in enumerate(pitches)], bars=8)
    assert cadence_profile(tune) == {"last_note_tonic": 1.0, "phrase_end_tonic_share": 0.5,
                                     "mid_phrase_tonic_share": pytest.approx(2 / 6)}  # bars 3 and 6 end on C
    in_g = melody([(4 * i, 4, p + 7) for i, p in enumerate(pitches)], bars=8)
    assert cadence_profile(in_g) == cadence_profile(tune), "the key is found, not assumed"
    assert all(math.isnan(v) for v in cadence_profile(melody([], bars=2)).values())
    assert average_cadence_profile([tune, melody([], bars=2)])["last_note_tonic"] == 1.0
    # the same tune after a pickup bar (one G3 on beat 4) and with three silent bars after it: its
    # phrases still end in its own bars 4 and 8 (bars 5 and 9 of the file), counted back from its close
    with_pickup = melody([(12, 4, G4 - 12), *((16 + 4 * i, 4, p) for i, p in enumerate(pitches))], bars=12)
    profile = cadence_profile(with_pickup)
    assert profile["last_note_tonic"] == 1.0 and profile["phrase_end_tonic_share"] == 0.5


def test_the_form_profile_sees_a_phrase_restated_8_bars_on_and_contours_alike_4_bars_apart():
    rising = [(0, 4, C4), (4, 4, D4), (8, 4, E4), (12, 4, F4)]  # one bar, rising by steps
    falling = [(0, 4, F4), (4, 4, E4), (8, 4, D4), (12, 4, C4)]
    bars = [rising, falling, falling, rising] * 8  # 32 bars: every bar returns 4, 8 and 16 bars on
    notes = [item for bar, content in enumerate(bars) for item in shifted(content, steps=16 * bar)]
    profile = form_profile(melody(notes, 32))
    assert profile["contour_similarity_4"] == pytest.approx(1.0) and profile["contour_similarity_8"] == pytest.approx(1.0)
    assert profile["repeat_lag_8"] == 1.0 and profile["repeat_lag_16"] == 1.0, "every 2-bar chunk returns"
    assert profile["repeat_lag_2"] == 0.0, "chunk 2 (bars 5-6: rising, falling) is not chunk 1 (falling, rising)"
    assert profile["overused_cell"] == 1.0, "a 2-bar cell heard 8 times is a loop"
    transposed = [item for bar, content in enumerate(bars) for item in shifted(content, 16 * bar, 2 * (bar // 4))]
    moved = form_profile(melody(transposed, 32))
    assert moved["contour_similarity_8"] == pytest.approx(1.0) and moved["repeat_lag_8"] == 0.0, \
        "a contour moved up is alike; the chunk is not restated note for note"
    silent = form_profile(np.zeros(64, dtype=np.int8))
    assert all(math.isnan(value) for value in silent.values())


def test_a_cell_is_overused_past_three_times_or_twice_in_a_row():
    cell_a = [(0, 8, C4), (8, 8, E4), (16, 16, G4)]  # one 2-bar chunk each
    cell_b = [(0, 16, D4), (16, 16, F4)]
    cell_c = [(0, 32, A4)]

    def tune(*cells):
        return melody([item for index, cell in enumerate(cells) for item in shifted(cell, 32 * index)], 2 * len(cells))

    assert form_profile(tune(cell_a, cell_b, cell_a, cell_c, cell_a, cell_b))["overused_cell"] == 0.0, "3 times"
    assert form_profile(tune(cell_a, cell_b, cell_a, cell_c, cell_a, cell_a))["overused_cell"] == 1.0, "4 times"
    assert form_profile(tune(cell_b, cell_a, cell_a, cell_a, cell_c, cell_b))["overused_cell"] == 1.0, "3 in a row"
    assert form_profile(tune(cell_b, cell_a, cell_a, cell_c))["overused_cell"] == 0.0, "twice in a row"


def test_seams_are_judged_against_how_the_kept_bars_move_and_new_notes_against_their_scale():
    # 8 bars, quarter notes: chunks 1 and 4 kept (stepwise C major), chunks 2 and 3 regenerated
    kept_a = [C4, D4, E4, F4, G4, F4, E4, D4]
    new = [E4, F4, G4, A4, B4, C5, FS4, G4]  # joins from D4 by a step, F#4 is out of C major
    new_far = [C5 + 7, A4, G4, F4, E4, D4, C4, E4]  # a leap inside the new bars is no seam
    kept_b = [C4, D4, E4, C4, D4, E4, D4, C4]
    pitches = kept_a + new + new_far + kept_b
    tune = melody([(4 * i, 4, p) for i, p in enumerate(pitches)], bars=8)
    regenerated = np.array([False, True, True, False])
    profile = seam_profile(tune, regenerated)
    # kept intervals: 2, 2, 1, 2, 2, 1, 2 | 2, 2, 4, 2, 2, 2, 2 -> 90th percentile 2; seams D4->E4 (2), E4->C4 (4)
    assert profile["seams_within_kept_motion"] == 0.5
    assert profile["new_notes_in_kept_scale"] == pytest.approx(15 / 16)
    assert math.isnan(seam_profile(tune, np.zeros(4, bool))["seams_within_kept_motion"]), "nothing regenerated"
    assert average_seam_profile([tune, tune], regenerated)["seams_within_kept_motion"] == 0.5
    with pytest.raises(ValueError, match="one flag per 2-bar chunk"):
        seam_profile(tune, np.array([True]))
