"""Specification of `core.shaping.registers`: each decoded 2-bar phrase moves by whole octaves so that the
line moves on from where the previous phrase ended, as real renaissance voice parts do."""

import numpy as np
import pytest

from core.music.constants import FIRST_NOTE_TOKEN, MIN_PITCH
from core.music.melody import split_into_chunks
from core.shaping.registers import join_registers
from tests.chunk_factory import phrases, pitch_lines


def test_a_phrase_placed_an_octave_off_moves_back_beside_its_neighbours():
    drawn = phrases([60, 62], [76, 74], [64, 65])  # 62 -> 76 and 74 -> 64: leaps of a ninth and more
    assert pitch_lines(join_registers(drawn)) == [[60, 62], [64, 62], [64, 65]]


def test_phrases_that_already_meet_within_a_fifth_stay_as_drawn():
    drawn = phrases([60, 64], [67, 65], [60, 59])  # boundary intervals 3 and 5
    assert np.array_equal(join_registers(drawn), drawn)


def test_rhythm_holds_and_note_offs_are_kept_only_pitches_move():
    drawn = phrases([60, 62], [76, 74])
    joined = join_registers(drawn)
    moved = drawn >= FIRST_NOTE_TOKEN
    assert np.array_equal(joined[~moved], drawn[~moved])
    assert np.array_equal(joined[moved] - drawn[moved], np.array([0, 0, -12, -12]))


def test_a_leap_across_a_silent_phrase_is_joined_and_the_silence_stays():
    drawn = phrases([60, 62], [], [75, 74])
    assert pitch_lines(join_registers(drawn)) == [[60, 62], [], [63, 62]]


def test_a_boundary_leap_beyond_a_fifth_is_worth_an_octave_and_a_fifth_is_not():
    assert pitch_lines(join_registers(phrases([60], [68]))) == [[60], [56]], "a minor sixth becomes a third down"
    assert np.array_equal(join_registers(phrases([60], [67])), phrases([60], [67]))
    # moving the fourth phrase alone would open a leap after it: the fewer phrases on one side move together
    assert pitch_lines(join_registers(phrases([60], [62], [64], [78, 76], [74]))) == [
        [60], [62], [64], [66, 64], [62]]


def test_on_equal_cost_the_earlier_phrase_keeps_its_register_and_the_later_one_follows():
    assert pitch_lines(join_registers(phrases([40], [54, 40]))) == [[40], [42, 28]]


def test_a_shift_that_would_leave_the_pitch_range_is_never_chosen():
    # moving the second phrase down would put its low note under MIN_PITCH: the first moves up instead
    assert pitch_lines(join_registers(phrases([40], [54, MIN_PITCH + 4]))) == [[52], [54, MIN_PITCH + 4]]


def test_when_infilling_only_the_regenerated_phrases_move_to_meet_the_kept_ones():
    drawn = phrases([60, 62], [76, 74], [64])
    kept_first = np.array([False, True, True])  # the first phrase was regenerated
    assert pitch_lines(join_registers(drawn, movable=kept_first)) == [[60, 62], [64, 62], [64]]
    only_first = np.array([True, False, False])
    assert pitch_lines(join_registers(drawn, movable=only_first)) == [[72, 74], [76, 74], [64]]
    with pytest.raises(ValueError, match="one flag per chunk"):
        join_registers(drawn, movable=np.ones(2, dtype=bool))


def test_a_melody_with_fewer_than_two_voiced_phrases_is_returned_unchanged():
    for drawn in (phrases([], []), phrases([60], [])):
        assert join_registers(drawn) is drawn
    with pytest.raises(ValueError, match=r"shape \(K, 32\)"):
        join_registers(split_into_chunks(phrases([60])[0]).reshape(-1))
