"""Specification of the evaluation report (eval_lab.report)."""

import pandas as pd
import pytest

from eval_lab.report import BEST_STYLE, best_rows, build_figures, export_html, readable_table


@pytest.fixture
def results_dir(tmp_path):
    rows = [
        {"system": "train (GT)", "pitch_consistency": 1.0, "pitch_variance": 1.0, "duration_consistency": 1.0,
         "duration_variance": 1.0, "pitch_mu_oa": 0.8, "pitch_var_oa": 0.02, "duration_mu_oa": 0.9,
         "duration_var_oa": 0.01, "pairs": 100, "frechet_distance": 0.1, "mmd_rbf": 0.01, "notes_per_bar": 5.4},
        {"system": "infill: diffusion", "pitch_consistency": 0.95, "pitch_variance": 0.8, "duration_consistency": 0.97,
         "duration_variance": 0.7, "pitch_mu_oa": 0.76, "pitch_var_oa": 0.03, "duration_mu_oa": 0.88,
         "duration_var_oa": 0.013, "pairs": 100, "frechet_distance": 0.5, "mmd_rbf": 0.05},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    pd.DataFrame([{"t": 1000, "pitch_consistency": 0.3, "pitch_variance": 0.1, "duration_consistency": 0.4,
                   "duration_variance": 0.2}, {"t": 1, "pitch_consistency": 0.9, "pitch_variance": 0.8,
                                               "duration_consistency": 0.95, "duration_variance": 0.7}]
                 ).to_csv(tmp_path / "curve.csv", index=False)
    return tmp_path


def test_figures_split_unconditional_and_infilling_rows(results_dir):
    figures = build_figures(results_dir)
    assert set(figures) == {"unconditional", "infilling", "raw", "musicality", "bars", "curve"}
    assert list(figures["unconditional"].data[0].cells.values[0]) == ["train (GT)"]
    assert list(figures["infilling"].data[0].cells.values[0]) == ["infill: diffusion"]
    assert list(figures["curve"].data[0].y) == [0.3, 0.9]
    musicality = figures["musicality"].data[0]
    assert list(musicality.header.values) == ["system", "notes_per_bar"], "only the metrics the run has"


def test_the_charts_name_their_series_shortly_and_put_the_legend_over_the_plot_not_beside_it(results_dir):
    figures = build_figures(results_dir)
    for name in ("bars", "curve"):
        assert [trace.name for trace in figures[name].data] == ["pitch C", "pitch Var", "duration C", "duration Var"]
        legend = figures[name].layout.legend
        assert (legend.orientation, legend.yanchor, legend.y) == ("h", "bottom", 1.0), "a 390 px phone keeps the width"


def test_standalone_html_embeds_plotly_once(results_dir):
    page = export_html(results_dir, results_dir / "report.html").read_text()
    assert page.count("Plotly.newPlot") == 6
    assert 'src="https://cdn.plot.ly' not in page, "the page works offline"
    assert len(page) > 1_000_000, "plotly.js is embedded"


def test_missing_results_are_reported():
    with pytest.raises(FileNotFoundError, match="run `python -m eval_lab.run` first"):
        build_figures("/nonexistent")


def test_the_best_system_is_the_highest_c_var_the_lowest_distance_and_the_closest_to_real_musicality():
    table = pd.DataFrame([
        {"system": "held-out (raw melodies)", "pitch_consistency": 0.99, "frechet_distance": None, "notes_per_bar": 6.0},
        {"system": "train (GT)", "pitch_consistency": 1.0, "frechet_distance": 0.1, "notes_per_bar": 5.0},
        {"system": "diffusion", "pitch_consistency": 0.95, "frechet_distance": 0.4, "notes_per_bar": 6.5},
        {"system": "TransformerMDN", "pitch_consistency": 0.97, "frechet_distance": 1.7, "notes_per_bar": 4.0},
    ])
    assert best_rows(table, "pitch_consistency").tolist() == [False, False, False, True], "data rows never win"
    assert best_rows(table, "frechet_distance").tolist() == [False, False, True, False]
    assert best_rows(table, "notes_per_bar").tolist() == [False, False, True, False], "0.5 from the real 6.0"
    table["c2st_accuracy"] = [0.5, None, 0.97, 0.62]  # the raw row holds the real-vs-real control
    assert best_rows(table, "c2st_accuracy").tolist() == [False, False, False, True], "closest to 0.5 wins"
    styled = readable_table(table, ["pitch_consistency", "frechet_distance"])
    assert list(styled.data.columns) == ["System", "Pitch C", "Frechet distance"]
    assert styled.to_html().count(BEST_STYLE.split(";")[0]) == 1, "one rule lists the two best cells"
