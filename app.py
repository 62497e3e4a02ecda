"""Hugging Face Spaces entry point: builds the demo from `demo/` and launches it.

Port: $GRADIO_SERVER_PORT (default 7860). API endpoints for gradio_client: /generate,
/infill, /generate_long (see the README).
"""

from __future__ import annotations

import os

import gradio as gr

from demo.audition import build_listen_tab
from demo.eval_tab import build_eval_tab
from demo.generate_tab import build_generate_tab
from demo.infill_tab import build_infill_tab
from demo.long_tab import build_long_tab
from demo.outputs import diffusion_available, shared_pipeline

MAX_UPLOAD = "8mb"  # matches core.midi_io.MidiLimits.max_bytes
CONCURRENCY = 2  # requests computed at once; the rest wait in the queue
QUEUE_SIZE = 32


def build_app() -> gr.Blocks:
    if diffusion_available():
        shared_pipeline()  # load the models once, at start-up
    with gr.Blocks(title="Latent diffusion melodies", delete_cache=(600, 3600)) as app:
        gr.Markdown(
            "# Symbolic music generation with latent diffusion\n"
            "A reimplementation of Mittal et al., ISMIR 2021: a transformer diffusion model over "
            "the latents of a 2-bar MusicVAE writes melodies of any length, fills in bars you choose, "
            "and is compared with a TransformerMDN baseline."
        )
        last_melody = gr.State(None)
        with gr.Tab("Generate"):
            build_generate_tab(last_melody)
        with gr.Tab("Infill"):
            build_infill_tab(last_melody)
        with gr.Tab("Longer than training"):
            build_long_tab()
        with gr.Tab("Evaluation lab"):
            build_eval_tab()
        with gr.Tab("Listen"):
            build_listen_tab()
    return app


def launch(app: gr.Blocks, port: int, host: str = "0.0.0.0", **kwargs) -> None:
    app.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE).launch(
        server_name=host, server_port=port, max_file_size=MAX_UPLOAD, **kwargs)


if __name__ == "__main__":
    launch(build_app(), int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
           os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"))
