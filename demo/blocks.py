"""The whole Gradio app: the tabs of `demo/` in one `gr.Blocks`, and how it is served."""

from __future__ import annotations

import gradio as gr

from core.limits import MAX_UPLOAD_BYTES
from demo.audition import build_listen_tab
from demo.eval_tab import build_eval_tab
from demo.generate_tab import build_generate_tab, check_generation
from demo.infill_tab import build_infill_tab
from demo.long_tab import build_long_tab
from demo.outputs import diffusion_available, shared_pipeline
from demo.queue_gate import QueueGate

QUEUE_SIZE = 32  # requests waiting; the heavy ones run HEAVY_CONCURRENCY at a time over all tabs


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
    """Serve `app`: one queue with the admission rules of `QueueGate` (a cap per client, input
    checks before batching), and no `/gradio_api/run/` route around it (api_open=False)."""
    app.queue(max_size=QUEUE_SIZE, api_open=False)
    QueueGate(app, {"generate": check_generation}).install()
    app.launch(server_name=host, server_port=port, max_file_size=MAX_UPLOAD_BYTES, **kwargs)
