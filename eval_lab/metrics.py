"""The paper's metrics: framewise self-similarity (consistency, variance), FD and MMD.

Numpy in, numpy (or floats) out. Choices:
- overlapping area: the exact integral of min(f1, f2) of two 1-D Gaussians from their
  intersection points (one for equal variances, two otherwise), not the paper's
  one-intersection shortcut; variances below `VARIANCE_FLOOR` are raised to it.
- frames: 4 bars wide with a 2-bar hop; a frame holds the notes whose onset lies inside
  it; pitch in MIDI numbers, duration in sixteenth steps; frames without notes are
  skipped, and so is every adjacent pair that includes one.
- FD: Frechet distance of Gaussian fits; MMD: the biased (V-statistic) estimate with an
  RBF kernel exp(-gamma |x - y|^2), so that identical sets score exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import linalg
from scipy.special import ndtr

from core.music.constants import STEPS_PER_BAR
from core.music.melody import notes_from_melody

VARIANCE_FLOOR = 1e-4  # guards frames whose notes all share one pitch or one duration
EQUAL_VARIANCE_RTOL = 1e-9


def overlapping_area(mu1, var1, mu2, var2) -> np.ndarray:
    """Exact area under min(N(mu1, var1), N(mu2, var2)); broadcasts over arrays. In [0, 1]."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    var1 = np.maximum(np.asarray(var1, np.float64), VARIANCE_FLOOR)
    var2 = np.maximum(np.asarray(var2, np.float64), VARIANCE_FLOOR)
    mu1, var1, mu2, var2 = np.broadcast_arrays(mu1, var1, mu2, var2)
    # Let density 1 be the narrower one: it is the smaller density outside the roots.
    swap = var1 > var2
    m_n, v_n = np.where(swap, mu2, mu1), np.where(swap, var2, var1)
    m_w, v_w = np.where(swap, mu1, mu2), np.where(swap, var1, var2)
    s_n, s_w = np.sqrt(v_n), np.sqrt(v_w)

    equal = np.abs(v_w - v_n) <= EQUAL_VARIANCE_RTOL * v_w
    # Equal variances: one crossing at the midpoint, area 2 Phi(-|d| / 2s).
    area_equal = 2.0 * ndtr(-np.abs(m_w - m_n) / (2.0 * s_n))
    # Unequal: (x - m_n)^2 / v_n - (x - m_w)^2 / v_w + log(v_n / v_w) = 0, a x^2 + b x + c = 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1.0 / v_n - 1.0 / v_w
        b = -2.0 * (m_n / v_n - m_w / v_w)
        c = m_n**2 / v_n - m_w**2 / v_w + np.log(v_n / v_w)
        root_disc = np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))
        q = -0.5 * (b + np.where(b >= 0, 1.0, -1.0) * root_disc)  # stable quadratic formula
        r1, r2 = q / a, c / q
        low, high = np.minimum(r1, r2), np.maximum(r1, r2)
        narrow_outside = ndtr((low - m_n) / s_n) + 1.0 - ndtr((high - m_n) / s_n)
        wide_inside = ndtr((high - m_w) / s_w) - ndtr((low - m_w) / s_w)
        area_unequal = narrow_outside + wide_inside
    return np.clip(np.where(equal, area_equal, area_unequal), 0.0, 1.0)


@dataclass(frozen=True)
class FrameStats:
    """Per-frame Gaussian fits of one melody; NaN where a frame holds no note onset."""

    pitch_mean: np.ndarray  # (F,)
    pitch_var: np.ndarray  # (F,)
    duration_mean: np.ndarray  # (F,) sixteenth steps
    duration_var: np.ndarray  # (F,)


def framewise_stats(melody: np.ndarray, frame_bars: int = 4, hop_bars: int = 2) -> FrameStats:
    """Mean and variance of pitch and of duration of the notes starting in each frame.

    melody: (T,) tokens. Frames start every `hop_bars` bars and span `frame_bars` bars;
    only frames that fit inside the melody count. Variances are population variances.
    """
    if frame_bars < 1 or hop_bars < 1:
        raise ValueError(f"frame_bars and hop_bars must be >= 1, got {frame_bars} and {hop_bars}")
    starts, ends, pitches = notes_from_melody(melody)
    durations = (ends - starts).astype(np.float64)
    width, hop = frame_bars * STEPS_PER_BAR, hop_bars * STEPS_PER_BAR
    frame_starts = np.arange(0, len(melody) - width + 1, hop)
    stats = np.full((4, len(frame_starts)), np.nan)
    for index, first in enumerate(frame_starts):
        inside = (starts >= first) & (starts < first + width)
        if inside.any():
            p, d = pitches[inside].astype(np.float64), durations[inside]
            stats[:, index] = p.mean(), p.var(), d.mean(), d.var()
    return FrameStats(*stats)


def adjacent_overlaps(stats: FrameStats) -> tuple[np.ndarray, np.ndarray]:
    """OA of every adjacent pair of frames that both hold notes: (pitch OAs, duration OAs)."""
    valid = ~np.isnan(stats.pitch_mean)
    pairs = valid[:-1] & valid[1:]
    pitch = overlapping_area(stats.pitch_mean[:-1], stats.pitch_var[:-1], stats.pitch_mean[1:], stats.pitch_var[1:])
    duration = overlapping_area(stats.duration_mean[:-1], stats.duration_var[:-1],
                                stats.duration_mean[1:], stats.duration_var[1:])
    return pitch[pairs], duration[pairs]


@dataclass(frozen=True)
class OverlapStats:
    """Pooled mean and variance of the adjacent-frame OAs of a set of melodies."""

    pitch_mean: float
    pitch_var: float
    duration_mean: float
    duration_var: float
    pairs: int


class NoFramePairsError(ValueError):
    """A set of melodies has no adjacent pair of frames with notes, so OA statistics are undefined."""


def overlap_stats(melodies: Sequence[np.ndarray], frame_bars: int = 4, hop_bars: int = 2) -> OverlapStats:
    """Pool the OAs of all adjacent frame pairs of all melodies."""
    pitch, duration = [], []
    for melody in melodies:
        p, d = adjacent_overlaps(framewise_stats(melody, frame_bars, hop_bars))
        pitch.append(p)
        duration.append(d)
    pitch_all = np.concatenate(pitch) if pitch else np.zeros(0)
    duration_all = np.concatenate(duration) if duration else np.zeros(0)
    if pitch_all.size == 0:
        raise NoFramePairsError("no adjacent pair of frames with notes: melodies must be at least 6 bars with notes")
    return OverlapStats(float(pitch_all.mean()), float(pitch_all.var()), float(duration_all.mean()),
                        float(duration_all.var()), int(pitch_all.size))


def _closeness(value: float, reference: float) -> float:
    """max(0, 1 - |value - reference| / reference): 1 when equal, falling with the distance."""
    return max(0.0, 1.0 - abs(value - reference) / reference) if reference > 0 else float(value == reference)


def self_similarity(melodies: Sequence[np.ndarray], reference: Sequence[np.ndarray] | OverlapStats) -> dict[str, float]:
    """Consistency C and Variance Var of `melodies` against `reference` (melodies or their stats),
    for pitch and duration, with the raw pooled mu_OA and sigma^2_OA of both sets."""
    ours = overlap_stats(melodies)
    theirs = reference if isinstance(reference, OverlapStats) else overlap_stats(reference)
    return {
        "pitch_consistency": _closeness(ours.pitch_mean, theirs.pitch_mean),
        "pitch_variance": _closeness(ours.pitch_var, theirs.pitch_var),
        "duration_consistency": _closeness(ours.duration_mean, theirs.duration_mean),
        "duration_variance": _closeness(ours.duration_var, theirs.duration_var),
        "pitch_mu_oa": ours.pitch_mean,
        "pitch_var_oa": ours.pitch_var,
        "duration_mu_oa": ours.duration_mean,
        "duration_var_oa": ours.duration_var,
        "reference_pitch_mu_oa": theirs.pitch_mean,
        "reference_pitch_var_oa": theirs.pitch_var,
        "reference_duration_mu_oa": theirs.duration_mean,
        "reference_duration_var_oa": theirs.duration_var,
        "pairs": ours.pairs,
    }


def _as_2d(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must be a 2-D array (N >= 2, D) of latent vectors, got shape {x.shape}")
    return x


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) of Gaussian fits; real, fake: (N, D)."""
    real, fake = _as_2d("real", real), _as_2d("fake", fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake must have the same dimension, got {real.shape[1]} and {fake.shape[1]}")
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.atleast_2d(np.cov(real, rowvar=False)), np.atleast_2d(np.cov(fake, rowvar=False))
    root = linalg.sqrtm(cov_r @ cov_f)
    root = np.real(root)
    return float(np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r + cov_f - 2.0 * root))


def mmd_rbf(real: np.ndarray, fake: np.ndarray, gamma: float = 1.0) -> float:
    """Squared MMD with kernel exp(-gamma |x - y|^2), biased estimate; real, fake: (N, D)."""
    real, fake = _as_2d("real", real), _as_2d("fake", fake)
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")

    def mean_kernel(x: np.ndarray, y: np.ndarray) -> float:
        squared = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T  # (N, M)
        return float(np.exp(-gamma * np.maximum(squared, 0.0)).mean())

    return mean_kernel(real, real) + mean_kernel(fake, fake) - 2.0 * mean_kernel(real, fake)
