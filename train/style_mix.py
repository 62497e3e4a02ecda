"""How much of each training batch each style gets: `--style-weights` in both trainers."""

from __future__ import annotations

from core.music.styles import MUSIC21_STYLES


def style_shares(style_weights: str, chunk_counts: dict[str, int]) -> dict[str, float]:
    """Each style's share of a batch: "equal", "natural" (by chunk count) or "folk=2,chorale=1,...".

    chunk_counts: training chunks per style present. Styles an explicit list leaves out get 0;
    a label of the music21 vocabulary (`core.music.styles.MUSIC21_STYLES`) that the data lacks is
    ignored, so the demo preset's weights also run on other corpora; other labels are errors.
    """
    allowed = sorted(chunk_counts)
    if style_weights == "equal":
        weights = {style: 1.0 for style in allowed}
    elif style_weights == "natural":
        weights = {style: float(count) for style, count in chunk_counts.items()}
    else:
        weights = dict.fromkeys(allowed, 0.0)
        for item in style_weights.split(","):
            label, _, value = item.partition("=")
            label = label.strip()
            if label not in chunk_counts and label in MUSIC21_STYLES:
                continue
            if label not in chunk_counts:
                raise ValueError(f"style_weights names {label!r}, but the training chunks have the styles {allowed} "
                                 "(or use 'equal' or 'natural')")
            try:
                weights[label] = float(value)
            except ValueError:
                raise ValueError(f"style_weights entry {item!r} is not LABEL=NUMBER") from None
            if weights[label] < 0:
                raise ValueError(f"style_weights: {label} has the negative weight {weights[label]}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"style_weights {style_weights!r} gives every style of the training data ({', '.join(allowed)}) "
                         "weight 0; pass --style-weights equal, natural or weights for those styles")
    return {style: weight / total for style, weight in weights.items()}
