"""Interactive tables and charts of an `eval_lab.run` result directory (plotly + pandas).

    python -m eval_lab.report --results eval_lab/results --html eval_lab/results/report.html

The app's evaluation tab imports `build_figures`; `export_html` writes one standalone page.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from core.constants import CHUNKS_PER_WINDOW
from core.musicality import METRIC_NAMES
from core.transformer import ANY_STYLE
from eval_lab.run import read_run_config

SELF_SIMILARITY = ["pitch_consistency", "pitch_variance", "duration_consistency", "duration_variance"]
RAW = ["pitch_mu_oa", "pitch_var_oa", "duration_mu_oa", "duration_var_oa"]
LATENT = ["frechet_distance", "mmd_rbf"]
MUSICALITY = list(METRIC_NAMES)


def load_results(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    directory = Path(directory)
    if not (directory / "results.csv").is_file():
        raise FileNotFoundError(f"no results.csv in {directory}; run `python -m eval_lab.run` first")
    return pd.read_csv(directory / "results.csv"), pd.read_csv(directory / "curve.csv")


def table_figure(table: pd.DataFrame, columns: list[str], title: str) -> go.Figure:
    shown = table[["system", *[c for c in columns if c in table]]].round(4)
    figure = go.Figure(go.Table(header={"values": list(shown.columns)},
                                cells={"values": [shown[c] for c in shown.columns]}))
    figure.update_layout(title=title, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def bars_figure(table: pd.DataFrame) -> go.Figure:
    figure = go.Figure([go.Bar(name=metric.replace("_", " "), x=table["system"], y=table[metric])
                        for metric in SELF_SIMILARITY if metric in table])
    figure.update_layout(barmode="group", title="Consistency and variance against the training data (higher is closer)",
                         yaxis={"range": [0, 1.05]})
    return figure


def curve_figure(curve: pd.DataFrame) -> go.Figure:
    figure = go.Figure([go.Scatter(name=metric.replace("_", " "), x=curve["t"], y=curve[metric], mode="lines+markers")
                        for metric in SELF_SIMILARITY if metric in curve])
    figure.update_layout(title="Quality of the x0 estimate along the 1000-step reverse process",
                         xaxis={"title": "reverse step t", "autorange": "reversed"}, yaxis={"range": [0, 1.05]})
    return figure


def run_setting(directory: str | Path) -> str:
    """ "folk, 32 bars" from the run's config.json ("" for a run without one)."""
    config = read_run_config(directory)
    if not config:
        return ""
    return f"{config.get('style', ANY_STYLE)}, {2 * config.get('length', CHUNKS_PER_WINDOW)} bars"


def build_figures(directory: str | Path) -> dict[str, go.Figure]:
    """The paper's tables (unconditional, infilling) plus bars and the quality curve."""
    table, curve = load_results(directory)
    infill = table["system"].str.startswith("infill")
    setting = run_setting(directory)
    suffix = f" ({setting})" if setting else ""
    return {
        "unconditional": table_figure(table[~infill], SELF_SIMILARITY + LATENT, "Unconditional generation" + suffix),
        "infilling": table_figure(table[infill], SELF_SIMILARITY + LATENT, "Infilling the middle half" + suffix),
        "raw": table_figure(table, RAW, "Raw overlap statistics (mu_OA, sigma^2_OA)"),
        "musicality": table_figure(table, MUSICALITY, "Musicality of the melodies (compare with the held-out rows)"),
        "bars": bars_figure(table),
        "curve": curve_figure(curve),
    }


def export_html(directory: str | Path, out: str | Path) -> Path:
    figures = build_figures(directory)
    parts = [figure.to_html(full_html=False, include_plotlyjs=(i == 0))
             for i, figure in enumerate(figures.values())]
    page = "<html><head><meta charset='utf-8'><title>Evaluation</title></head><body>" + "\n".join(parts) + "</body></html>"
    Path(out).write_text(page)
    return Path(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("eval_lab/results"))
    parser.add_argument("--html", type=Path, help="standalone HTML page to write (default RESULTS/report.html)")
    args = parser.parse_args(argv)
    try:
        path = export_html(args.results, args.html or args.results / "report.html")
    except FileNotFoundError as error:
        parser.error(str(error))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
