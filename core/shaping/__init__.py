"""Phrase shaping: post-processing of decoded melodies, chosen per style by one table, STYLE_SHAPING.

Each step repairs what the models do not learn themselves, for the styles it measurably brings
closer to real melodies (docs/evaluation.md, "Shaping phrases"): `repeats` restates near-repeats
(infilling; new melodies get theirs from their form), `tonality` keeps phrases in the melody's
key, `registers` moves phrases by octaves so that they meet.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.shaping.repeats import REAL_REPEAT_SHARES


@dataclass(frozen=True)
class Shaping:
    """Which shaping steps melodies of one style get."""

    restate_share: float = 0.0  # share of regenerated latents restated (`repeats.snap_repeats`)
    keep_key: bool = False
    join_registers: bool = False


NO_SHAPING = Shaping()
STYLE_SHAPING = {
    "folk": Shaping(restate_share=REAL_REPEAT_SHARES["folk"], keep_key=True),
    "renaissance": Shaping(keep_key=True, join_registers=True),
}


def shaping_for(style: str, guidance: float) -> Shaping:
    """The shaping of melodies sampled for `style` (a label or "any") at `guidance`; guidance 0
    ignores the style, so its melodies are left as drawn."""
    return STYLE_SHAPING.get(style, NO_SHAPING) if guidance > 0 else NO_SHAPING
