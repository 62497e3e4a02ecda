"""The "Lab" tab (evaluation): the committed results of `eval_lab.run`, and a quick rerun on small N."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from core.limits import MAX_SEEDS_PER_REQUEST
from demo.outputs import HEAVY_WORK, shared_pipeline, whole_number
from eval_lab.report import build_figures
from eval_lab.run import EvalConfig, read_run_config, run

RESULTS_DIR = Path(__file__).resolve().parent.parent / "eval_lab" / "results"
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
LATENTS_PATH, CACHE_PATH = DATA_DIR / "latents_music21.npz", DATA_DIR / "music21.npz"
FIGURE_ORDER = ("unconditional", "infilling", "musicality", "bars", "curve", "raw")


def result_sets() -> list[str]:
    """Names of the committed runs (subdirectories of RESULTS_DIR with a results.csv), e.g. "folk_32bars"."""
    return sorted(p.parent.name for p in RESULTS_DIR.glob("*/results.csv"))


def committed_figures(name: str | None) -> list:
    """The figures of the committed run `name`, in FIGURE_ORDER; None for each when there is none."""
    if name not in result_sets():
        return [None] * len(FIGURE_ORDER)
    figures = build_figures(RESULTS_DIR / name)
    return [figures[figure] for figure in FIGURE_ORDER]


def quick_evaluation(n: float = 8, name: str | None = None, progress=gr.Progress(track_tqdm=True)) -> list:
    """Rerun the protocol of the committed run `name` (its style and length) with `n` sequences
    per system; returns the figures."""
    count = whole_number(n, "N", 2, MAX_SEEDS_PER_REQUEST)
    if not (LATENTS_PATH.is_file() and CACHE_PATH.is_file()):
        raise gr.Error(f"The quick rerun needs the encoded corpus at {LATENTS_PATH.relative_to(LATENTS_PATH.parents[1])}, "
                       "which is not shipped: run `python -m train.prepare_data --source music21` and "
                       "`python -m train.encode --model demo/model` first.")
    out = Path(tempfile.mkdtemp(prefix="eval-"))
    setting = read_run_config(RESULTS_DIR / name) if name in result_sets() else {}
    config = EvalConfig(n=count, batch_size=count, **{key: setting[key] for key in ("style", "length", "guidance")
                                                     if key in setting})
    run(shared_pipeline(), LATENTS_PATH, CACHE_PATH, out, config)
    figures = build_figures(out)
    return [figures[name] for name in FIGURE_ORDER]


def build_eval_tab() -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context."""
    gr.Markdown("The paper's evaluation on the held-out split (`python -m eval_lab.run`): consistency (C) and "
                "variance (Var) of framewise pitch and duration statistics against the training data (1 is "
                "best), and Frechet distance and MMD of the normalized latents against the held-out latents "
                "(0 is best).")
    names = result_sets()
    chosen = gr.Dropdown(names, value=names[0] if names else None, label="Style and length evaluated")
    plots = [gr.Plot(value=figure, label=name) for name, figure in zip(FIGURE_ORDER, committed_figures(chosen.value))]
    chosen.change(committed_figures, [chosen], plots, api_visibility="private")
    with gr.Row():
        n = gr.Slider(2, MAX_SEEDS_PER_REQUEST, value=8, step=1, label="N for a quick rerun (the committed run used more)")
        rerun = gr.Button("Recompute quickly")
    rerun.click(quick_evaluation, [n, chosen], plots, api_visibility="private", **HEAVY_WORK)
