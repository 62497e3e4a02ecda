"""The "Lab" tab (evaluation): the committed results of `eval_lab.run`, and a quick rerun on small N."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from core.data.latent_sequences import LatentSequences
from core.limits import MAX_SEEDS_PER_REQUEST
from demo.outputs import HEAVY_WORK, Refusal, shared_pipeline, whole_number
from eval_lab.heldout_sample import BUNDLED_SAMPLE_DIR, sample_paths
from eval_lab.report import build_figures, readable_tables
from eval_lab.run import RESULTS_DIR, EvalConfig, read_run_config, run

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
LATENTS_PATH, CACHE_PATH = DATA_DIR / "latents_music21.npz", DATA_DIR / "music21.npz"
SAMPLE_LATENTS_PATH, SAMPLE_CACHE_PATH = sample_paths(BUNDLED_SAMPLE_DIR)
TABLE_ORDER = ("unconditional", "infilling", "musicality", "raw")
TABLE_LABELS = {"unconditional": "Generating from nothing", "infilling": "Infilling the middle half",
                "musicality": "How the melodies sound, in numbers (best: closest to the real held-out melodies)",
                "raw": "Raw overlap statistics (the paper's mu and sigma^2 of the overlapping areas)"}
CHART_ORDER = ("bars", "curve")


def result_sets() -> list[str]:
    """Names of the committed runs (subdirectories of RESULTS_DIR with a results.csv), e.g. "folk_32bars"."""
    return sorted(p.parent.name for p in RESULTS_DIR.glob("*/results.csv"))


def run_outputs(directory: Path) -> list:
    """A run's tables (TABLE_ORDER, styled DataFrames) then charts (CHART_ORDER, plotly)."""
    tables, figures = readable_tables(directory), build_figures(directory)
    return [tables[name] for name in TABLE_ORDER] + [figures[name] for name in CHART_ORDER]


def committed_outputs(name: str | None) -> list:
    """The tables and charts of the committed run `name`; None for each when there is none."""
    if name not in result_sets():
        return [None] * (len(TABLE_ORDER) + len(CHART_ORDER))
    return run_outputs(RESULTS_DIR / name)


def rerun_corpus() -> tuple[Path, Path] | None:
    """(latents, melody cache) the quick rerun reads: the full corpus in data/ where this copy has
    it, else the sample shipped with the model (`eval_lab.heldout_sample`); None without either."""
    for latents, cache in ((LATENTS_PATH, CACHE_PATH), (SAMPLE_LATENTS_PATH, SAMPLE_CACHE_PATH)):
        if latents.is_file() and cache.is_file():
            return latents, cache
    return None


def rerun_description() -> str:
    """What the quick rerun reruns on, or why it cannot run."""
    corpus = rerun_corpus()
    if corpus is None:
        return QUICK_RERUN_MISSING
    if corpus == (LATENTS_PATH, CACHE_PATH):
        data = "the full encoded corpus in data/, as the committed runs did"
    else:
        sample = LatentSequences.load(corpus[0])
        data = (f"a sample of {sample.track_indices('eval').size} held-out and {sample.track_indices('train').size} "
                f"training melodies ({', '.join(sorted(set(sample.track_styles.tolist())))}) shipped with the "
                "model; the committed runs used the full corpus")
    return f"Reruns the chosen protocol with N melodies per system on {data}. The committed results above stay."


def quick_evaluation(n: float = 8, name: str | None = None, progress=gr.Progress(track_tqdm=True)) -> list:
    """Rerun the protocol of the committed run `name` (its style and length) with `n` sequences
    per system; returns its tables and charts (shown apart from the committed ones)."""
    count = whole_number(n, "N", 2, MAX_SEEDS_PER_REQUEST)
    corpus = rerun_corpus()
    if corpus is None:
        raise Refusal(QUICK_RERUN_MISSING)
    setting = read_run_config(RESULTS_DIR / name) if name in result_sets() else {}
    config = EvalConfig(n=count, batch_size=count, **{key: setting[key] for key in ("style", "length", "guidance")
                                                     if key in setting})
    with tempfile.TemporaryDirectory(prefix="eval-") as out:  # removed once its tables and charts are read
        try:
            run(shared_pipeline(), *corpus, Path(out), config)
        except gr.Error:  # says what to change already (str() of one would quote it)
            raise
        except (FileNotFoundError, ValueError) as error:
            raise Refusal(str(error)) from error
        return run_outputs(Path(out))


QUICK_RERUN_MISSING = ("A quick rerun needs the encoded corpus (data/latents_music21.npz and data/music21.npz) or "
                       "the sample of it shipped with the model (demo/model/heldout/), and this copy of the app has "
                       "neither: run `python -m train.prepare_data --source music21` and `python -m train.encode "
                       "--model demo/model` on your machine, then `python -m eval_lab.heldout_sample` for the sample.")


# the System column stays in view while the figures scroll past it; on a phone it gives room to
# the figures: three of them in view beside it
LAB_TABLE_CSS = """
.lab-table th:first-child, .lab-table .body-cell:first-child { position: sticky; left: 0; z-index: 1;
  background: inherit; }
@media (max-width: 600px) { .lab-table th:first-child, .lab-table td:first-child { min-width: 96px; max-width: 112px; } }
"""


def result_widgets(values: list) -> list:
    """Tables and charts for one run's results; call inside a `gr.Blocks` context."""
    # a System column that stays in view, narrow on a phone (LAB_TABLE_CSS); fullscreen for a closer look
    tables = [gr.Dataframe(value=value, label=TABLE_LABELS[name], interactive=False, wrap=True,
                           buttons=["fullscreen", "copy"], elem_classes="lab-table")
              for name, value in zip(TABLE_ORDER, values)]
    charts = [gr.Plot(value=value, show_label=False) for value in values[len(TABLE_ORDER):]]
    return tables + charts


def build_eval_tab() -> None:
    """Widgets and wiring of the tab; call inside a `gr.Blocks` context."""
    gr.Markdown("How close do the generated melodies come to real ones? The paper's measures on held-out "
                "melodies (`python -m eval_lab.run`): **C** (consistency) and **Var** (variance) compare "
                "pitch and duration statistics with the training data (1 is best); Frechet distance and MMD "
                "compare the latent vectors with held-out ones (0 is best). The best system in each column is "
                "marked; click a header to sort.")
    names = result_sets()
    chosen = gr.Dropdown(names, value=names[0] if names else None, label="Style and length evaluated")
    committed = result_widgets(committed_outputs(chosen.value))
    chosen.change(committed_outputs, [chosen], committed, api_visibility="private", queue=False)
    with gr.Accordion("Recompute quickly (small N)", open=False):
        available = rerun_corpus() is not None
        gr.Markdown(rerun_description())
        with gr.Row():
            n = gr.Slider(2, MAX_SEEDS_PER_REQUEST, value=8, step=1, label="N (the committed runs used 200)",
                          interactive=available)
            rerun = gr.Button("Recompute quickly", interactive=available)
        rerun_outputs = result_widgets([None] * (len(TABLE_ORDER) + len(CHART_ORDER)))
    rerun.click(quick_evaluation, [n, chosen], rerun_outputs, api_visibility="private", **HEAVY_WORK)
