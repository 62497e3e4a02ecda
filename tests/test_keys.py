"""Specification of key normalization (core.music.keys): melodies moved into C, into a chosen key, and back."""

import numpy as np
import pytest

from core.music.keys import (
    best_tonic,
    melody_pitches,
    melody_tonic,
    nearest_shift,
    normalizing_shift,
    parse_key,
    style_key,
    transpose_melody,
    transpose_to_key,
)
from tests.chunk_factory import phrases

D_MAJOR_TUNE = [62, 64, 66, 67, 69, 71, 73, 74]  # D major scale
E_FLAT_TUNE = [63, 65, 67, 68, 70, 72, 74, 75]


def line(pitches: list[int]) -> np.ndarray:
    return phrases(pitches).reshape(-1)


def test_shifts_take_the_nearest_way_round():
    assert [nearest_shift(s) for s in (0, 5, 6, 7, -7, 12, -1)] == [0, 5, -6, -5, 5, 0, -1]


def test_a_d_major_tune_moves_down_a_whole_tone_into_c():
    tune = line(D_MAJOR_TUNE)
    assert best_tonic(melody_pitches(tune)) == 2
    assert normalizing_shift(tune) == -2
    assert melody_pitches(transpose_melody(tune, -2)).tolist() == [60, 62, 64, 65, 67, 69, 71, 72]


def test_a_tune_in_c_or_its_relative_minor_stays_where_it_is():
    assert normalizing_shift(line([60, 62, 64, 65, 67])) == 0
    assert normalizing_shift(line([57, 59, 60, 62, 64, 65, 67, 69])) == 0  # A natural minor


def test_moving_in_and_back_out_restores_every_token():
    tune = line(E_FLAT_TUNE)
    shift = normalizing_shift(tune)
    assert shift == -3
    assert np.array_equal(transpose_melody(transpose_melody(tune, shift), -shift), tune)


def test_notes_that_would_leave_the_piano_move_an_octave_less():
    assert melody_pitches(transpose_melody(line([106, 108]), 3)).tolist() == [97, 99]
    assert melody_pitches(transpose_melody(line([21, 22, 23]), -2)).tolist() == [31, 32, 21]


def test_a_melody_in_c_moved_to_d_fits_d_major_best():
    moved = transpose_to_key(line([60, 62, 64, 65, 67, 69, 71, 72]), parse_key("D"))
    assert best_tonic(melody_pitches(moved)) == 2
    assert melody_pitches(moved).tolist() == D_MAJOR_TUNE


def test_a_melody_that_fits_two_scales_equally_is_named_by_the_key_it_was_moved_to_in_every_key():
    pentatonic = line([60, 62, 64, 67, 69, 67, 64, 60])  # fits C, F and G major alike; C heard most
    assert best_tonic(melody_pitches(pentatonic)) == 0 and melody_tonic(pentatonic) == 0
    for tonic in range(12):
        assert melody_tonic(transpose_to_key(pentatonic, tonic)) == tonic
    in_b_flat = transpose_melody(pentatonic, 10)  # ties Eb, F and Bb: normalized as the training data, by Eb
    assert melody_tonic(in_b_flat) == 10 and normalizing_shift(in_b_flat) == -3


@pytest.mark.parametrize("text, tonic", [("D", 2), ("Eb", 3), ("eb", 3), ("D#", 3), ("F# major", 6), ("Bb", 10)])
def test_key_names_are_read_with_flats_sharps_and_any_case(text, tonic):
    assert parse_key(text) == tonic


@pytest.mark.parametrize("text", ["H", "", "D minor", 2])
def test_an_unknown_key_name_says_which_are_allowed(text):
    with pytest.raises(ValueError, match="key must be"):
        parse_key(text)


def test_folk_comes_out_in_d_unless_asked_otherwise_and_unknown_styles_in_c():
    assert style_key("folk") == "D"
    assert style_key("any") == "C"
