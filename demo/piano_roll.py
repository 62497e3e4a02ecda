"""An interactive plotly piano roll of a melody, with bar numbers and 2-bar latent boundaries."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.constants import STEPS_PER_BAR, STEPS_PER_CHUNK
from core.melody import notes_from_melody

NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def note_name(pitch: int) -> str:
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def piano_roll(melody: np.ndarray, regenerated: np.ndarray | None = None, title: str = "") -> go.Figure:
    """Notes as bars over time in bars (x) and MIDI pitch (y); regenerated 2-bar chunks shaded.

    melody: (T,) tokens; regenerated: (T // 32,) bool or None.
    """
    starts, ends, pitches = notes_from_melody(melody)
    bars_total = len(melody) / STEPS_PER_BAR
    figure = go.Figure(go.Bar(
        base=starts / STEPS_PER_BAR + 1, x=(ends - starts) / STEPS_PER_BAR, y=pitches, orientation="h",
        width=0.8, marker={"color": "#4c78a8"},
        hovertext=[f"{note_name(int(p))}, bar {s / STEPS_PER_BAR + 1:.2f}" for s, p in zip(starts, pitches)],
        hoverinfo="text",
    ))
    # one shapes list: figure.add_vline / add_vrect revalidate every shape on each call (1.1 s for 64 bars)
    full_height = {"yref": "paper", "y0": 0, "y1": 1}
    chunks = len(melody) // STEPS_PER_CHUNK
    shapes = [{"type": "line", "x0": chunk * 2 + 1, "x1": chunk * 2 + 1, **full_height,
               "line": {"width": 1, "color": "#bbbbbb", "dash": "dot"}} for chunk in range(chunks + 1)]
    if regenerated is not None:
        shapes += [{"type": "rect", "x0": chunk * 2 + 1, "x1": chunk * 2 + 3, **full_height, "fillcolor": "#f58518",
                    "opacity": 0.12, "line": {"width": 0}, "layer": "below"} for chunk in np.flatnonzero(regenerated)]
    low, high = (int(pitches.min()) - 2, int(pitches.max()) + 2) if len(pitches) else (55, 80)
    figure.update_layout(
        title=title, height=320, margin={"l": 50, "r": 10, "t": 40 if title else 10, "b": 40},
        xaxis={"title": "bar", "range": [1, bars_total + 1], "dtick": 2 if bars_total <= 64 else 8},
        yaxis={"title": "pitch", "range": [low, high], "tickvals": list(range(low, high + 1, 2)),
               "ticktext": [note_name(p) for p in range(low, high + 1, 2)]},
        showlegend=False, bargap=0, shapes=shapes,
    )
    return figure
