"""Specification of the piano roll figure (demo.piano_roll)."""

import numpy as np

from core.melody import melody_from_notes
from demo.piano_roll import note_name, piano_roll


def test_piano_roll_draws_one_bar_per_note_in_bar_units():
    melody = melody_from_notes([0, 16, 40], [16, 24, 64], [60, 64, 67])
    figure = piano_roll(melody, regenerated=np.array([False, True]))
    notes = figure.data[0]
    assert list(notes.base) == [1.0, 2.0, 3.5]
    assert list(notes.x) == [1.0, 0.5, 1.5]
    assert list(notes.y) == [60, 64, 67]
    assert notes.hovertext[0] == "C4, bar 1.00"
    shaded = [shape for shape in figure.layout.shapes if shape.type == "rect"]
    assert [(s.x0, s.x1) for s in shaded] == [(3, 5)], "the second 2-bar chunk is marked as regenerated"
    boundaries = [shape.x0 for shape in figure.layout.shapes if shape.type == "line"]
    assert boundaries == [1, 3, 5], "dotted lines at the 2-bar latent boundaries, bars 1, 3 and 5"


def test_note_names():
    assert [note_name(p) for p in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]
