"""Specification of style labels: one word per track, from where its piece came from."""

import pytest

from core.music.styles import CHORALE, CLASSICAL, FOLK, OTHER, RENAISSANCE, style_of


@pytest.mark.parametrize("key, style", [
    ("essenFolksong/altdeu10.abc#12", FOLK), ("oneills1850/reels.abc#3", FOLK), ("ryansMammoth/x.abc#0", FOLK),
    ("bach/bwv66.6.mxl", CHORALE), ("palestrina/Agnus_01.krn", RENAISSANCE), ("monteverdi/madrigal.3.1.rntxt",
                                                                              RENAISSANCE),
    ("beethoven/opus18no1", CLASSICAL), ("schoenberg/opus19", OTHER)])
def test_music21_pieces_are_labelled_by_their_collection(key, style):
    assert style_of("music21", key) == style


def test_midi_files_are_labelled_by_their_top_level_subfolder():
    assert style_of("midi", "jazz/standards/take5.mid") == "jazz"
    assert style_of("midi", "loose_file.mid") == "midi"
