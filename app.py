"""Hugging Face Spaces entry point: builds the demo from `demo/` and launches it.

Port: $GRADIO_SERVER_PORT (default 7860). API endpoints for gradio_client: /generate,
/infill, /generate_long (see docs/app-and-api.md).
"""

from __future__ import annotations

import os

from demo.blocks import build_app, launch

if __name__ == "__main__":
    launch(build_app(), int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
           os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"))
