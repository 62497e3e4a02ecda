"""The "Long" tab (longer than training): 128-256 bars and the latents' self-similarity matrix."""

from __future__ import annotations

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch

from core.limits import MAX_BARS, MAX_SEED, MAX_TEMPO_BPM, MIN_TEMPO_BPM
from core.requests import DEFAULT_GUIDANCE, DEFAULT_STYLE, GenerationRequest
from demo.audition import GM_PROGRAMS
from demo.generate_tab import program_for
from demo.outputs import (
    HEAVY_WORK,
    play_preview,
    progress_reporter,
    publish,
    refused_if_invalid,
    shared_pipeline,
    style_choice,
    style_inputs,
)
from demo.roll_player import RollPlayer


def latent_self_similarity(latents: torch.Tensor) -> np.ndarray:
    """Cosine similarity between every pair of 2-bar latents: (K, D) -> (K, K)."""
    unit = latents / latents.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    return (unit @ unit.T).numpy()


def similarity_figure(similarity: np.ndarray) -> go.Figure:
    bars = np.arange(len(similarity)) * 2 + 1  # first bar of each latent
    figure = go.Figure(go.Heatmap(z=similarity, x=bars, y=bars, zmin=-1, zmax=1, colorscale="RdBu_r",
                                  colorbar={"title": "cosine"},
                                  hovertemplate="bars %{x} and %{y}: %{z:.2f}<extra></extra>"))
    # two short lines, so that the title fits a phone's width
    figure.update_layout(title="Which 2-bar phrases are alike<br><sub>cosine of their latents; trained on 64 bars</sub>",
                         height=460, xaxis={"title": "bar"}, yaxis={"title": "bar", "autorange": "reversed"},
                         margin={"l": 50, "r": 10, "t": 60, "b": 40})
    return figure


def generate_long(bars: float = 128, seed: float = 0, windowed: bool = False, instrument: str = "Flute",
                  tempo: float = 120, style: str = DEFAULT_STYLE, guidance: float = DEFAULT_GUIDANCE,
                  progress=gr.Progress()):
    """Returns (RollPlayer value, self-similarity figure, MIDI path, AudioPreview to render next)."""
    request = refused_if_invalid(GenerationRequest.of, bars=bars, seeds=(seed,), windowed=windowed, tempo_bpm=tempo,
                                 program=program_for(instrument), **style_choice(style, guidance))
    result = refused_if_invalid(shared_pipeline().generate, request, progress_reporter(progress))[0]
    mode = "windowed" if request.windowed else "one pass"
    roll, midi_path, preview = publish(result, request.render, f"long-{result.seed}",
                                       f"{request.bars} bars, seed {result.seed}, {mode}")
    return roll, similarity_figure(latent_self_similarity(result.latents)), midi_path, preview


def build_long_tab(preview_format: gr.Textbox) -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context. preview_format: the page's
    (`demo.outputs.preview_format_input`)."""
    gr.Markdown("The model learnt from pieces of up to 64 bars. Here it writes 128 to 256 bars: in one pass (it "
                "sees the whole melody at once) or windowed (64 bars at a time, each window continuing the last). "
                "The square below shows which 2-bar phrases resemble which: a phrase that comes back draws a "
                "stripe away from the diagonal.")
    with gr.Row():
        with gr.Column(scale=1):
            bars = gr.Slider(66, MAX_BARS, value=128, step=2, label="Bars")
            style, guidance = style_inputs()
            seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
            windowed = gr.Checkbox(value=False, label="Windowed (overlapping 64-bar windows)")
            instrument = gr.Dropdown(list(GM_PROGRAMS), value="Flute", label="Instrument")
            tempo = gr.Slider(MIN_TEMPO_BPM, MAX_TEMPO_BPM, value=120, step=1, label="Tempo (BPM)")
            go_button = gr.Button("Generate long melody", variant="primary")
            preview = gr.State(None)
        with gr.Column(scale=2):
            roll = RollPlayer(elem_id="long-roll")
            matrix = gr.Plot(label="Latent self-similarity")
            with gr.Row():
                midi_file = gr.File(label="MIDI")
                audio_file = gr.File(label="Audio preview")
    go_button.click(None, None, [roll, audio_file], js="() => [null, null]")
    go_button.click(generate_long, [bars, seed, windowed, instrument, tempo, style, guidance],
                    [roll, matrix, midi_file, preview], api_name="generate_long", show_progress_on=[roll],
                    **HEAVY_WORK) \
        .success(play_preview, [preview, roll, preview_format], [roll, audio_file], api_visibility="private",
                 show_progress_on=[roll], **HEAVY_WORK)
    gr.Examples([[128, 0, False, "Flute", 120], [256, 3, True, "Violin", 132]], [bars, seed, windowed, instrument, tempo])
