"""Specification of `core.shaping.tonality`: a phrase that wanders into another key has its foreign notes
moved a semitone onto the melody's key; phrases in the melody's key keep their chromatic notes."""

import numpy as np
import pytest

from core.music.constants import NO_EVENT
from core.shaping.tonality import keep_in_key
from tests.chunk_factory import phrases, pitch_lines

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def test_a_phrase_in_a_neighbouring_key_has_its_foreign_notes_moved_onto_the_melodys_key():
    drawn = phrases(C_MAJOR, C_MAJOR[::-1], [67, 69, 71, 72, 74, 76, 78, 79])  # the last phrase: G major, F#5
    assert pitch_lines(keep_in_key(drawn))[2] == [67, 69, 71, 72, 74, 76, 77, 79], "F#5 -> F5, nearer E5"


def test_a_foreign_note_moves_towards_the_note_before_it_and_down_on_a_tie():
    # after C5: G#4 -> A4 (nearer C5), F#4 -> G4 (nearer A4), G#4 -> G4 (a tie: down), A#4 -> A4
    assert pitch_lines(keep_in_key(phrases(C_MAJOR, C_MAJOR, [68, 66, 68, 70])))[2] == [69, 67, 67, 69]
    assert pitch_lines(keep_in_key(phrases([66, 68, 70, 73], C_MAJOR, C_MAJOR)))[0] == [65, 67, 69, 72], \
        "the first note has none before it: down"


def test_a_phrase_that_fits_the_melodys_key_keeps_its_chromatic_notes():
    drawn = phrases(C_MAJOR, [64, 66, 67, 65], C_MAJOR)  # F# and F: C major fits this phrase as well as G major
    assert np.array_equal(keep_in_key(drawn), drawn)


def test_when_infilling_only_the_regenerated_phrases_change_and_the_kept_ones_set_the_key():
    drawn = phrases([67, 69, 71, 72, 74, 76, 78, 79], C_MAJOR, C_MAJOR, C_MAJOR)
    assert np.array_equal(keep_in_key(drawn, movable=np.array([False, True, True, True])), drawn)
    assert pitch_lines(keep_in_key(drawn, movable=np.array([True, False, False, False])))[0][6] == 77
    with pytest.raises(ValueError, match="one flag per chunk"):
        keep_in_key(drawn, movable=np.ones(3, dtype=bool))


def test_silence_and_rhythm_are_kept():
    drawn = phrases(C_MAJOR, [], [67, 78])
    kept = keep_in_key(drawn)
    assert np.array_equal(kept != NO_EVENT, drawn != NO_EVENT)
    assert pitch_lines(kept) == [C_MAJOR, [], [67, 77]]
    silent = phrases([], [])
    assert np.array_equal(keep_in_key(silent), silent)
