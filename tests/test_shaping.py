"""Specification of `core.shaping`: one table says which style's melodies get which shaping step."""

from core.shaping import NO_SHAPING, Shaping, shaping_for
from core.shaping.repeats import REAL_REPEAT_SHARES


def test_infilled_folk_is_restated_as_often_as_real_folk():
    assert shaping_for("folk", 2.0) == Shaping(restate_share=REAL_REPEAT_SHARES["folk"])


def test_renaissance_the_unmeasured_styles_and_any_style_are_left_as_drawn():
    styles = ("renaissance", "classical", "chorale", "other", "any")
    assert [shaping_for(style, 2.0) for style in styles] == [NO_SHAPING] * 5


def test_guidance_0_ignores_the_style_so_nothing_is_shaped():
    assert shaping_for("folk", 0.0) == NO_SHAPING and shaping_for("renaissance", 0.0) == NO_SHAPING
    assert NO_SHAPING == Shaping(restate_share=0.0)
