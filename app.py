"""Hugging Face Spaces entry point: builds the demo from `demo/` and launches it.

Port: $GRADIO_SERVER_PORT (default 7860). Infilling and the evaluation lab tabs are to come.
"""

from __future__ import annotations

import os

import gradio as gr

from demo.audition import build_listen_tab
from demo.generate_tab import build_generate_tab

MAX_UPLOAD = "8mb"  # matches core.midi_io.MidiLimits.max_bytes


def build_app() -> gr.Blocks:
    with gr.Blocks(title="Latent diffusion melodies", delete_cache=(600, 3600)) as app:
        gr.Markdown(
            "# Symbolic music generation with latent diffusion\n"
            "A reimplementation of Mittal et al., ISMIR 2021: a transformer diffusion model over "
            "the latents of a 2-bar MusicVAE writes melodies of any length. **Listen** shows how "
            "your own MIDI files are read: every non-drum instrument becomes one melody line."
        )
        with gr.Tab("Generate"):
            build_generate_tab()
        with gr.Tab("Listen"):
            build_listen_tab()
    return app


if __name__ == "__main__":
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    build_app().queue(default_concurrency_limit=2, max_size=32).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=port,
        max_file_size=MAX_UPLOAD,
    )
