"""Specification of the score under every result (demo.score_view): Verovio's engraving of the MusicXML."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core.music.melody import melody_from_notes
from core.music.notation import musicxml_text
from demo.score_view import score_svg

G_MAJOR_TUNE = melody_from_notes(np.arange(0, 160, 16), np.arange(8, 168, 16),
                                 np.array([67, 71, 74, 66, 67, 72, 74, 66, 67, 79]))  # 10 bars


def test_the_score_has_every_bar_the_key_signature_and_a_line_every_four_bars():
    svg = score_svg(musicxml_text(G_MAJOR_TUNE, "Tune", 100, marked_bars=frozenset({3})))
    assert svg.startswith("<svg") or svg.lstrip().startswith("<?xml")
    assert svg.count('class="measure"') == 10
    assert svg.count('class="system"') == 3, "bars 1-4, 5-8, 9-10"
    assert svg.count('class="keySig"') == 3 and svg.count('class="keyAccid"') == 3, "one sharp on every line"
    assert ">new<" in svg


def test_the_score_is_engraved_in_the_worker_threads_the_app_answers_in():
    with ThreadPoolExecutor(2) as pool:
        scores = list(pool.map(score_svg, [musicxml_text(G_MAJOR_TUNE)] * 2))
    assert all(score.count('class="measure"') == 10 for score in scores)


def test_a_file_that_is_not_a_score_is_refused():
    with pytest.raises(ValueError, match="could not read the score"):
        score_svg("not a score")
