"""Specification of the melody token representation (core.music.melody)."""

import numpy as np
import pytest

from core.music.constants import NO_EVENT, NOTE_OFF, NUM_TOKENS, STEPS_PER_CHUNK
from core.music.melody import (
    melody_from_notes,
    notes_from_melody,
    pitch_to_token,
    rest_chunk_mask,
    split_into_chunks,
    top_line_notes,
    trim_rest_chunks,
)


def test_token_ids_follow_magenta_one_hot_melody_converter():
    assert NUM_TOKENS == 90
    assert pitch_to_token(21) == 2
    assert pitch_to_token(108) == 89
    assert pitch_to_token(60) == 41


def test_single_note_is_onset_holds_and_note_off():
    melody = melody_from_notes([2], [6], [60])
    assert melody.dtype == np.int8
    assert melody.shape == (STEPS_PER_CHUNK,)
    assert melody[:8].tolist() == [0, 0, 41, 0, 0, 0, NOTE_OFF, 0]
    assert (melody[8:] == NO_EVENT).all()


def test_simultaneous_onsets_keep_the_highest_pitch():
    melody = melody_from_notes([0, 0, 0], [4, 4, 4], [60, 67, 64])
    assert melody[0] == pitch_to_token(67)
    assert melody[4] == NOTE_OFF


def test_later_onset_cuts_the_sounding_note_without_note_off():
    melody = melody_from_notes([0, 2], [8, 4], [60, 55])
    assert melody[:6].tolist() == [41, 0, pitch_to_token(55), 0, NOTE_OFF, 0]
    assert (melody[5:] == NO_EVENT).all(), "the cut note leaves no stray NOTE_OFF at step 8"


def test_notes_outside_the_piano_range_are_dropped():
    melody = melody_from_notes([0, 4, 8], [2, 6, 10], [20, 60, 109])
    starts, ends, pitches = notes_from_melody(melody)
    assert pitches.tolist() == [60]
    assert (starts.tolist(), ends.tolist()) == ([4], [6])


def test_length_is_padded_to_whole_two_bar_chunks_and_a_final_note_needs_no_off():
    assert melody_from_notes([0], [33], [60]).size == 64
    exact = melody_from_notes([0], [32], [60])
    assert exact.size == 32 and NOTE_OFF not in exact
    assert melody_from_notes([], [], []).tolist() == [0] * 32


def test_notes_from_melody_inverts_melody_from_notes():
    starts = np.array([0, 4, 8, 20, 40, 63])
    ends = np.array([4, 6, 20, 30, 44, 64])
    pitches = np.array([60, 62, 64, 21, 108, 70])
    got = notes_from_melody(melody_from_notes(starts, ends, pitches))
    assert [g.tolist() for g in got] == [starts.tolist(), ends.tolist(), pitches.tolist()]


def test_chunks_and_rest_chunks():
    melody = melody_from_notes([40], [50], [60])  # chunk 0 silent, chunk 1 has the note
    chunks = split_into_chunks(melody)
    assert chunks.shape == (2, 32)
    assert rest_chunk_mask(chunks).tolist() == [True, False]


def test_a_chunk_holding_a_note_without_onset_is_a_rest_chunk():
    chunks = split_into_chunks(melody_from_notes([0], [64], [60]))
    assert rest_chunk_mask(chunks).tolist() == [False, True]


def test_trim_rest_chunks_drops_only_leading_and_trailing_rests():
    melody = melody_from_notes([32, 100], [40, 110], [60, 62])  # chunks: rest, note, rest, note
    trimmed = trim_rest_chunks(np.concatenate([melody, np.zeros(64, np.int8)]))
    assert rest_chunk_mask(split_into_chunks(trimmed)).tolist() == [False, True, False]
    assert trim_rest_chunks(np.zeros(64, np.int8)).size == 0


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="not a multiple of 32"):
        split_into_chunks(np.zeros(33, np.int8))
    with pytest.raises(ValueError, match="tokens must lie in 0..89"):
        notes_from_melody(np.array([0, 90]))
    with pytest.raises(ValueError, match="1-D token array"):
        notes_from_melody(np.zeros((2, 32)))
    with pytest.raises(ValueError, match="one length"):
        melody_from_notes([0, 1], [2], [60])
    with pytest.raises(ValueError, match="starts must be >= 0"):
        melody_from_notes([-1], [2], [60])


def notes_as_rows(notes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[tuple[int, int, int]]:
    return [tuple(int(value) for value in row) for row in zip(*notes)]


def test_top_line_keeps_a_monophonic_line_as_it_is():
    starts, ends, pitches = [8, 0, 4], [12, 4, 8], [64, 60, 62]
    assert notes_as_rows(top_line_notes(starts, ends, pitches)) == [(0, 4, 60), (4, 8, 62), (8, 12, 64)]


def test_top_line_hides_a_left_hand_note_under_a_held_melody_note():
    # right hand: a half note 76 from step 0; left hand: quarter notes 48, 52 from step 4
    notes = top_line_notes([0, 0, 4], [8, 4, 8], [76, 48, 52])
    assert notes_as_rows(notes) == [(0, 8, 76)]


def test_top_line_takes_the_highest_of_a_chord_and_gives_a_long_enough_tail_back():
    # chord 60-64-67 held 8 steps, melody 72 over its first 2 steps only
    notes = top_line_notes([0, 0, 0, 0], [8, 8, 8, 2], [60, 64, 67, 72])
    assert notes_as_rows(notes) == [(0, 2, 72), (2, 8, 67)]  # the tail of 67 is 6 steps: heard
    short = top_line_notes([0, 0], [5, 2], [67, 72])
    assert notes_as_rows(short) == [(0, 2, 72)]  # a 3-step tail is not a note


def test_top_line_reads_a_short_overlap_as_legato_not_as_two_voices():
    # 67 held one step into the next note, a lower 65: the line moves to 65 on time
    assert notes_as_rows(top_line_notes([0, 4], [5, 8], [67, 65])) == [(0, 4, 67), (4, 8, 65)]
    # held two steps past it: 65 is under 67 until it ends, then its 2-step tail is too short
    assert notes_as_rows(top_line_notes([0, 4], [6, 8], [67, 65])) == [(0, 6, 67)]


def test_top_line_leaves_out_notes_outside_the_piano_range():
    assert notes_as_rows(top_line_notes([0, 0], [4, 4], [60, 110])) == [(0, 4, 60)]
    assert notes_as_rows(top_line_notes([], [], [])) == []


def test_top_line_leaves_out_a_left_hand_note_heard_in_a_short_gap_of_the_tune():
    # right hand 72 then 74 with an eighth's gap; left hand 48 held under both, 43 struck in the gap
    notes = top_line_notes([0, 0, 10, 12], [8, 16, 12, 16], [72, 48, 43, 74])
    assert notes_as_rows(notes) == [(0, 8, 72), (12, 16, 74)]
    # a part that never sounds two notes at once keeps its wide leaps: they are the tune's own
    assert notes_as_rows(top_line_notes([0, 8], [8, 16], [72, 55])) == [(0, 8, 72), (8, 16, 55)]
