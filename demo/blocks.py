"""The whole Gradio app: the tabs of `demo/` in one `gr.Blocks`, and how it is served."""

from __future__ import annotations

import os

import gradio as gr
from starlette.middleware import Middleware

from core.limits import MAX_UPLOAD_BYTES
from demo.audition import LINES_TABLE_CSS, build_listen_tab
from demo.eval_tab import LAB_TABLE_CSS, build_eval_tab
from demo.generate_tab import (
    build_generate_tab,
    check_generation,
    check_live_generation,
    check_variations,
    generate_live,
    generate_melodies,
    variations_and_baseline,
)
from demo.infill_tab import build_infill_tab, example_style, show_source
from demo.long_tab import build_long_tab
from demo.outputs import (
    HEAVY_WORK,
    PREVIEW_FORMAT_JS,
    Refusal,
    diffusion_available,
    preview_format_input,
    shared_pipeline,
)
from demo.queue_gate import QueueGate
from demo.request_guard import RequestGuard

QUEUE_SIZE = 32  # requests waiting; the heavy ones run HEAVY_CONCURRENCY at a time over all tabs
ABOUT = ("<small>How it works: a 2-bar MusicVAE turns melody phrases into latent vectors, and a transformer "
         "diffusion model writes sequences of them (Mittal et al., \"Symbolic Music Generation with Diffusion "
         "Models\", ISMIR 2021, reimplemented and extended). The Lab tab compares it with the paper's "
         "TransformerMDN baseline.</small>")
APP_CSS = ".trigger-only { display: none !important; }" + LAB_TABLE_CSS + LINES_TABLE_CSS
# a page address that holds settings (a shared result) presses the Generate tab's hidden replay button
APP_JS = """() => {
  if (!new URLSearchParams(location.search).has('bundle')) return;
  const press = () => { const button = document.querySelector('#url-replay');
                        if (button) button.click(); else setTimeout(press, 200); };
  setTimeout(press, 300);
}"""


def build_app() -> gr.Blocks:
    if diffusion_available():
        shared_pipeline()  # load the models once, at start-up
    with gr.Blocks(title="Latent diffusion melodies", delete_cache=(600, 3600)) as app:
        gr.Markdown("# Melodies from latent diffusion\n"
                    "Pick a style and press **Generate**: you get a new melody to hear, see and download. "
                    "**Infill** rewrites the bars you choose in any melody, yours included.")
        last_melody = gr.State(None)
        preview_format = preview_format_input()
        with gr.Tabs() as tabs:
            with gr.Tab("Generate", id="generate"):
                infill_this = build_generate_tab(last_melody, preview_format)
            with gr.Tab("Infill", id="infill"):
                infill = build_infill_tab(last_melody, preview_format)
            with gr.Tab("Long", id="long"):
                build_long_tab(preview_format)
            with gr.Tab("Lab", id="evaluation"):
                build_eval_tab()
            with gr.Tab("Listen", id="listen"):
                build_listen_tab(preview_format)
        gr.Markdown(ABOUT)
        # Ogg Vorbis previews where the browser plays them, MP3 where it does not (older Safari)
        app.load(None, None, preview_format, js=PREVIEW_FORMAT_JS, queue=False)
        if infill_this is not None:
            # queued, so that its message reaches the page (an unqueued handler's error is a bare 500)
            infill_this.click(open_in_infill, last_melody, [infill.source, tabs], api_visibility="private") \
                .success(show_source, infill.shown, infill.roll, api_visibility="private", **HEAVY_WORK)
            # the page opens Infill on its first example in that example's style (the API keeps folk as its default)
            app.load(example_style, [infill.example, infill.style], infill.style, api_visibility="private", queue=False)
    return app


def open_in_infill(last_melody) -> tuple:
    """ "Infill this melody": the Infill tab on the last generation, or a message while there is none."""
    if last_melody is None:
        raise Refusal("Generate a melody first: \"Infill this melody\" then takes it to the Infill tab.")
    return "Last generation", gr.Tabs(selected="infill")


def launch(app: gr.Blocks, port: int, host: str = "0.0.0.0", **kwargs) -> None:
    """Serve `app`: one queue with the admission rules of `QueueGate` (a cost budget per client,
    checks before batching, a quick lane), no `/gradio_api/run/` route around it (api_open=False),
    and uploads bounded per request, per client and on disk (`demo.request_guard`). Uvicorn
    trusts no forwarded header unless FORWARDED_ALLOW_IPS is set (`demo.queue_gate` has the rule)."""
    os.environ.setdefault("FORWARDED_ALLOW_IPS", "")
    app.queue(max_size=QUEUE_SIZE, api_open=False)
    QueueGate(app, {generate_melodies.__name__: check_generation, generate_live.__name__: check_live_generation,
               variations_and_baseline.__name__: check_variations}).install()
    app_kwargs = {**kwargs.pop("app_kwargs", {}), "middleware": [Middleware(RequestGuard)]}
    app.launch(server_name=host, server_port=port, max_file_size=MAX_UPLOAD_BYTES, css=APP_CSS, js=APP_JS,
               app_kwargs=app_kwargs, **kwargs)
