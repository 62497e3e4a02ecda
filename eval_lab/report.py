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

from core.music.constants import CHUNKS_PER_WINDOW
from core.music.musicality import METRIC_LABELS, METRIC_NAMES
from core.nets.transformer import ANY_STYLE
from eval_lab.run import read_run_config

SELF_SIMILARITY = ["pitch_consistency", "pitch_variance", "duration_consistency", "duration_variance"]
RAW = ["pitch_mu_oa", "pitch_var_oa", "duration_mu_oa", "duration_var_oa"]
LATENT = ["frechet_distance", "mmd_rbf"]
MUSICALITY = [*METRIC_NAMES, "repeated_share", "step_share", "last_note_tonic", "phrase_end_tonic_share",
              "contour_similarity_4", "contour_similarity_8", "repeat_lag_8"]
TOLD_APART = "c2st_accuracy"  # how often a classifier tells a system's melodies from real ones (eval_lab.c2st)


def load_results(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    directory = Path(directory)
    if not (directory / "results.csv").is_file():
        raise FileNotFoundError(f"no results.csv in {directory}; run `python -m eval_lab.run` first")
    return pd.read_csv(directory / "results.csv"), pd.read_csv(directory / "curve.csv")


HEADERS = {"system": "System", "pitch_consistency": "Pitch C", "pitch_variance": "Pitch Var",
           "duration_consistency": "Duration C", "duration_variance": "Duration Var",
           "frechet_distance": "Frechet distance", "mmd_rbf": "MMD",
           **{name: label[0].upper() + label[1:] for name, label in METRIC_LABELS.items()},
           "repeated_share": "Intervals: repeated notes", "step_share": "Intervals: steps (1-2 semitones)",
           "last_note_tonic": "Last note on the tonic",
           "phrase_end_tonic_share": "Phrase ends (bars 4, 8, ...) on the tonic",
           "contour_similarity_4": "Contours alike 4 bars apart", "contour_similarity_8": "Contours alike 8 bars apart",
           "repeat_lag_8": "2-bar phrases restated 8 bars on",
           TOLD_APART: "Told from real (C2ST accuracy, 0.5 is best)"}
LOWER_IS_BETTER = set(LATENT)  # the rest of SELF_SIMILARITY + LATENT: higher is better; musicality: closest to real
REFERENCE_ROWS = r"held-out|train \(GT\)"  # rows that are data, not systems (a regex): never marked best
BEST_STYLE = "font-weight: 700; background-color: #e3f1e3"


def best_rows(table: pd.DataFrame, column: str) -> pd.Series:
    """(rows,) bool: the system rows with the best value of `column`: the highest, the lowest for the
    latent distances, and for musicality the closest to the real held-out melodies' value."""
    systems = ~table["system"].str.contains(REFERENCE_ROWS) & table[column].notna()
    values = table[column].where(systems)
    if column == TOLD_APART:  # 0.5: the classifier cannot tell them from real melodies
        values = -(values - 0.5).abs()
    elif column in MUSICALITY:
        real = table.loc[table["system"].str.startswith("held-out (raw"), column]
        if real.empty:
            return pd.Series(False, index=table.index)
        values = -(values - real.iloc[0]).abs()
    elif column in LOWER_IS_BETTER:
        values = -values
    return systems & (values == values.max())


def readable_table(table: pd.DataFrame, columns: list[str], mark_best: bool = True) -> "pd.io.formats.style.Styler":
    """The rows with `columns` under readable headers, 3 decimals, and (with `mark_best`) the best
    system value per column in bold on green (see `best_rows`); for the app's sortable tables."""
    present = [column for column in columns if column in table]
    shown = table[["system", *present]].reset_index(drop=True)
    shown[present] = shown[present].round(3) + 0.0  # as shown, and no "-0.000" (adding 0.0 turns -0.0 into 0.0)
    best = {column: best_rows(shown, column) for column in present} if mark_best else {}
    marks = pd.DataFrame("", index=shown.index, columns=shown.columns)
    for column, rows in best.items():
        marks.loc[rows, column] = BEST_STYLE
    renamed = {column: HEADERS.get(column, column.replace("_", " ")) for column in shown.columns}
    return (shown.rename(columns=renamed).style.apply(lambda _: marks.rename(columns=renamed), axis=None)
            .format(precision=3, na_rep="-"))


def readable_tables(directory: str | Path) -> dict[str, "pd.io.formats.style.Styler"]:
    """The tables of a run for the app: unconditional, infilling (with the data rows for reference),
    musicality, raw (unmarked: its statistics have no "better" direction)."""
    table, _ = load_results(directory)
    infill = table["system"].str.startswith("infill")
    reference = table["system"].str.contains(REFERENCE_ROWS) & ~infill
    return {"unconditional": readable_table(table[~infill], SELF_SIMILARITY + LATENT),
            "infilling": readable_table(table[infill | reference], SELF_SIMILARITY + LATENT),
            "musicality": readable_table(table, [*MUSICALITY, TOLD_APART]),
            "raw": readable_table(table, RAW, mark_best=False)}


def table_figure(table: pd.DataFrame, columns: list[str], title: str) -> go.Figure:
    shown = table[["system", *[c for c in columns if c in table]]].round(4)
    figure = go.Figure(go.Table(header={"values": list(shown.columns)},
                                cells={"values": [shown[c] for c in shown.columns]}))
    figure.update_layout(title=title, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def phone_title(title: str, subtitle: str) -> dict:
    """A chart title that fits a 390 px phone: a short line and a smaller second one."""
    return {"text": f"{title}<br><sup>{subtitle}</sup>", "font": {"size": 15}, "y": 0.91, "yanchor": "top"}


# the legend in a row between the title and the plot, not beside it (on a 390 px phone a legend at
# the side leaves the plot a quarter of the width), and narrow side margins
PHONE_LEGEND = {"legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
                "margin": {"t": 140, "l": 40, "r": 10}}


def legend_name(metric: str) -> str:
    """"pitch_consistency" -> "pitch C": the Lab's short names (C consistency, Var variance)."""
    return metric.replace("_consistency", " C").replace("_variance", " Var").replace("_", " ")


def bars_figure(table: pd.DataFrame) -> go.Figure:
    figure = go.Figure([go.Bar(name=legend_name(metric), x=table["system"], y=table[metric])
                        for metric in SELF_SIMILARITY if metric in table])
    figure.update_layout(barmode="group", yaxis={"range": [0, 1.05]}, **PHONE_LEGEND,
                         title=phone_title("Consistency and variance", "against the training data: higher is closer"))
    return figure


def curve_figure(curve: pd.DataFrame) -> go.Figure:
    figure = go.Figure([go.Scatter(name=legend_name(metric), x=curve["t"], y=curve[metric], mode="lines+markers")
                        for metric in SELF_SIMILARITY if metric in curve])
    figure.update_layout(title=phone_title("The model's running guess of the melody", "along the 1000 denoising steps"),
                         xaxis={"title": "reverse step t", "autorange": "reversed"}, yaxis={"range": [0, 1.05]},
                         **PHONE_LEGEND)
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
