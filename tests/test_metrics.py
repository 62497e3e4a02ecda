"""Specification of the evaluation metrics (eval_lab.metrics)."""

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from core.music.melody import melody_from_notes
from eval_lab.metrics import (
    framewise_stats,
    frechet_distance,
    mmd_rbf,
    overlap_stats,
    overlapping_area,
    self_similarity,
)


def numeric_overlap(mu1, var1, mu2, var2):
    f = lambda x: min(norm.pdf(x, mu1, np.sqrt(var1)), norm.pdf(x, mu2, np.sqrt(var2)))
    lo = min(mu1 - 12 * np.sqrt(var1), mu2 - 12 * np.sqrt(var2))
    hi = max(mu1 + 12 * np.sqrt(var1), mu2 + 12 * np.sqrt(var2))
    points = sorted({mu1, mu2})
    return integrate.quad(f, lo, hi, points=points, limit=500, epsabs=1e-10)[0]


@pytest.mark.parametrize("mu1, var1, mu2, var2", [
    (60, 4, 62, 4),  # equal variances: true overlap 0.617, where the paper's shortcut gives 1
    (60, 4, 62, 4.0000001),  # nearly equal
    (60, 4, 62, 9),  # unequal: the densities cross twice
    (0, 0.25, 0.1, 25),  # very unequal
    (5, 1, -3, 2),
    (1.0, 0.01, 1.0, 0.02),  # same mean
])
def test_overlap_matches_numerical_integration(mu1, var1, mu2, var2):
    assert overlapping_area(mu1, var1, mu2, var2) == pytest.approx(numeric_overlap(mu1, var1, mu2, var2), abs=1e-4)


def test_overlap_of_n60_4_and_n62_4_is_0_617():
    assert overlapping_area(60, 4, 62, 4) == pytest.approx(0.617, abs=1e-3)


def test_overlap_is_one_for_identical_gaussians_and_falls_as_means_separate():
    assert overlapping_area(3.0, 2.0, 3.0, 2.0) == pytest.approx(1.0)
    areas = overlapping_area(0.0, 1.0, np.array([0.0, 0.5, 1.0, 2.0, 4.0]), 1.5)
    assert (np.diff(areas) < 0).all() and areas[-1] < 0.2


def test_overlap_is_symmetric_and_broadcasts():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=50), rng.normal(size=50)
    v1, v2 = rng.uniform(0.1, 3, 50), rng.uniform(0.1, 3, 50)
    np.testing.assert_allclose(overlapping_area(m1, v1, m2, v2), overlapping_area(m2, v2, m1, v1), atol=1e-12)
    assert overlapping_area(m1, v1, m2, v2).shape == (50,)


def test_zero_variances_are_guarded():
    assert overlapping_area(60, 0, 60, 0) == pytest.approx(1.0)
    assert 0 <= overlapping_area(60, 0, 62, 0) < 1e-6


def test_framewise_stats_of_a_hand_written_melody():
    # bars 1-2: C4 quarter notes (8 of 4 steps); bars 3-4: E4 and G4 halves (4 of 8 steps);
    # bars 5-6: one whole C5 (16 steps) then rest
    starts = [0, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64]
    ends = [4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80]
    pitches = [60] * 8 + [64, 67, 64, 67] + [72]
    stats = framewise_stats(melody_from_notes(starts, ends, pitches))  # 6 bars -> padded to 6 -> 2 frames
    # frame 1 (bars 1-4): 8 x (60, 4) and 4 x (64/67, 8)
    p = np.array([60] * 8 + [64, 67, 64, 67], float)
    d = np.array([4] * 8 + [8] * 4, float)
    assert stats.pitch_mean[0] == pytest.approx(p.mean()) and stats.pitch_var[0] == pytest.approx(p.var())
    assert stats.duration_mean[0] == pytest.approx(d.mean()) and stats.duration_var[0] == pytest.approx(d.var())
    # frame 2 (bars 3-6): (64, 67, 64, 67) of 8 steps and one 72 of 16 steps
    p2, d2 = np.array([64, 67, 64, 67, 72], float), np.array([8, 8, 8, 8, 16], float)
    assert stats.pitch_mean[1] == pytest.approx(p2.mean()) and stats.pitch_var[1] == pytest.approx(p2.var())
    assert stats.duration_mean[1] == pytest.approx(d2.mean()) and stats.duration_var[1] == pytest.approx(d2.var())
    assert len(stats.pitch_mean) == 2


def test_frames_without_notes_are_skipped():
    melody = melody_from_notes([0, 4, 96, 100], [4, 8, 100, 104], [60, 62, 60, 62])  # silent bars 3-6
    stats = framewise_stats(melody)
    assert np.isnan(stats.pitch_mean[1]) and not np.isnan(stats.pitch_mean[0])


def melodies(seed, count=12, bars=16):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        durations = rng.choice([2, 4, 8], size=200)
        starts = np.concatenate([[0], np.cumsum(durations)[:-1]])
        keep = starts < bars * 16
        out.append(melody_from_notes(starts[keep], (starts + durations)[keep], rng.integers(55, 80, keep.sum())))
    return out


def test_consistency_and_variance_are_one_for_a_set_against_itself():
    data = melodies(0)
    scores = self_similarity(data, data)
    for key in ("pitch_consistency", "pitch_variance", "duration_consistency", "duration_variance"):
        assert scores[key] == pytest.approx(1.0)
    assert scores["pitch_mu_oa"] == scores["reference_pitch_mu_oa"]
    assert self_similarity(data, overlap_stats(data)) == scores


def test_consistency_drops_for_a_different_set():
    steady = [melody_from_notes(np.arange(0, 256, 4), np.arange(4, 260, 4), [60] * 64)] * 4
    scores = self_similarity(melodies(1), steady)
    assert scores["pitch_consistency"] < 0.9


def test_frechet_distance_is_zero_for_identical_sets_and_matches_a_1d_case():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    a, b = rng.normal(0, 1, (4000, 1)), rng.normal(2, 3, (4000, 1))
    var_a, var_b = a.var(ddof=1), b.var(ddof=1)
    expected = (a.mean() - b.mean()) ** 2 + var_a + var_b - 2 * np.sqrt(var_a * var_b)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_mmd_is_zero_for_identical_sets_and_positive_for_shifted_ones():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4))
    assert mmd_rbf(x, x) == pytest.approx(0.0, abs=1e-12)
    assert mmd_rbf(x, x + 0.5) > 0.01
    assert mmd_rbf(x, x + 0.5) < mmd_rbf(x, x + 2.0)


def test_metric_inputs_are_checked():
    with pytest.raises(ValueError, match="2-D array"):
        frechet_distance(np.zeros(5), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="same dimension"):
        frechet_distance(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="gamma must be > 0"):
        mmd_rbf(np.zeros((3, 2)), np.zeros((3, 2)), gamma=0)
    with pytest.raises(ValueError, match="no adjacent pair"):
        overlap_stats([np.zeros(32, np.int8)])
