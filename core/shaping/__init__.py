"""Phrase shaping: post-processing of decoded melodies, chosen per style by one table, STYLE_SHAPING.

Each step repairs what the models do not learn themselves, for the styles it measurably brings
closer to real melodies (docs/evaluation.md, "Shaping phrases"): `repeats` restates near-repeats
(infilling; new melodies get theirs from their form). Key keeping left the table once a decoder
for sampled latents (`core.nets.vae`) put as many of the drawn notes in the key as real tunes
have (folk 0.993 against 0.995, renaissance 0.969 against 0.970): it then only pushed
renaissance lines past real ones (0.994). Joining renaissance phrases' registers by octaves left
it once the sequence models followed an outline (`core.nets.outline`): drawn lines leap across
few seams (3.2% of intervals, 16 lines of 64 bars), and joining took that to 2.7% for a range
2.3 semitones wider (17.9 against 15.6; real voices 13.9).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.shaping.repeats import REAL_REPEAT_SHARES


@dataclass(frozen=True)
class Shaping:
    """Which shaping steps melodies of one style get."""

    restate_share: float = 0.0  # share of regenerated latents restated (`repeats.snap_repeats`)


NO_SHAPING = Shaping()
STYLE_SHAPING = {
    "folk": Shaping(restate_share=REAL_REPEAT_SHARES["folk"]),
}


def shaping_for(style: str, guidance: float) -> Shaping:
    """The shaping of melodies sampled for `style` (a label or "any") at `guidance`; guidance 0
    ignores the style, so its melodies are left as drawn."""
    return STYLE_SHAPING.get(style, NO_SHAPING) if guidance > 0 else NO_SHAPING
