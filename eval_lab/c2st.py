"""Classifier two-sample test: can a simple classifier tell generated melodies from real ones?

    python -m eval_lab.c2st --real DIR --fake DIR [--folds 5] [--seed 0]

Each melody becomes a vector of features computed from its quantized pitch, onset and
duration only (never velocity, tempo, instrument or file length): histograms of interval
sizes and directions, note durations, onset positions in the bar and pitch classes relative
to the melody's best-fitting major key; density, silence, range; the interval profile and
the 2-bar repetition shares of `core.music.musicality`. A gradient-boosting classifier is trained
with stratified k-fold on balanced sets (the larger set subsampled; `--paired` when each
generated file is made from the real file of the same name, e.g. a VAE reconstruction, keeps
each pair in one fold); the held-out accuracy
is 0.5 when the two sets cannot be told apart and 1.0 when they always can. A real-vs-real
control (the real set split into two random halves) is printed beside it, with the
features that separate the sets most on their own (AUC of each feature alone, |AUC - 0.5|).

From Python, `c2st(real, fake)` takes two lists of (T,) melodies (the pipeline's own).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from core.music.constants import FIRST_NOTE_TOKEN, STEPS_PER_BAR
from core.music.keys import best_tonic
from core.music.melody import notes_from_melody, validate_melody
from core.music.musicality import (
    INTERVAL_PROFILE_NAMES,
    interval_profile,
    repeated_pattern_share,
    transposed_pattern_share,
)

INTERVAL_BINS = (0, 1, 2, 3, 4, 5, 7, 9, 12, 128)  # |interval| bin edges: 0, 1, 2, 3, 4, 5-6, 7-8, 9-11, 12+
DURATION_BINS = (1, 2, 3, 4, 6, 8, 12, 16, 10**9)  # steps: 1, 2, 3, 4-5, 6-7, 8-11, 12-15, 16+
MIN_NOTES = 4  # melodies with fewer notes carry too little to judge and are left out


def _names() -> tuple[str, ...]:
    intervals = [f"interval_{low}" if high - low == 1 else f"interval_{low}-{high - 1}"
                 for low, high in zip(INTERVAL_BINS[:-1], INTERVAL_BINS[1:])]
    durations = [f"duration_{low}" if high - low == 1 else f"duration_{low}+"
                 for low, high in zip(DURATION_BINS[:-1], DURATION_BINS[1:])]
    return (*intervals, "upward_share", *durations, *(f"onset_step_{s}" for s in range(STEPS_PER_BAR)),
            *(f"pitch_class_{p}" for p in range(12)), "notes_per_bar", "sounding_share", "pitch_range",
            "pitch_std", *INTERVAL_PROFILE_NAMES[-1:], "repeated_pattern_share", "transposed_pattern_share")


FEATURE_NAMES: tuple[str, ...] = _names()


def _share(values: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    counts, _ = np.histogram(values, bins=edges)
    return counts / max(values.size, 1)


def melody_features(melody: np.ndarray) -> np.ndarray:
    """(T,) melody with at least two notes -> (F,) features, in the order of `FEATURE_NAMES`."""
    melody = validate_melody(melody)
    starts, ends, pitches = notes_from_melody(melody)
    if pitches.size < 2:
        raise ValueError(f"a melody needs at least 2 notes for its features, got {pitches.size}")
    intervals = np.diff(pitches)
    tonic = best_tonic(pitches)
    bars = melody.size / STEPS_PER_BAR
    nan_zero = lambda value: 0.0 if np.isnan(value) else value  # noqa: E731 (one-chunk melodies)
    return np.concatenate([
        _share(np.abs(intervals), INTERVAL_BINS), [float((intervals > 0).mean())],
        _share(ends - starts, DURATION_BINS),
        np.bincount(starts % STEPS_PER_BAR, minlength=STEPS_PER_BAR) / pitches.size,
        np.bincount((pitches - tonic) % 12, minlength=12) / pitches.size,
        [pitches.size / bars, float((ends - starts).sum()) / melody.size, float(np.ptp(pitches)),
         float(pitches.std()), interval_profile(melody)["run_note_share"],
         nan_zero(repeated_pattern_share(melody)), nan_zero(transposed_pattern_share(melody))],
    ]).astype(np.float64)


def judged(melody: np.ndarray) -> bool:
    """Whether a melody has the MIN_NOTES notes a C2ST needs."""
    return int((np.asarray(melody) >= FIRST_NOTE_TOKEN).sum()) >= MIN_NOTES


def feature_table(melodies: Sequence[np.ndarray]) -> np.ndarray:
    """(M, F) features of the melodies with at least MIN_NOTES notes (others are left out)."""
    rows = [melody_features(m) for m in melodies if judged(m)]
    return np.array(rows).reshape(len(rows), len(FEATURE_NAMES))


@dataclass(frozen=True)
class C2STResult:
    """Held-out accuracy of telling set A from set B (0.5 = indistinguishable)."""

    accuracy: float  # mean over folds
    spread: float  # standard deviation over folds
    per_set: int  # melodies of each set used (balanced)
    separating: tuple[tuple[str, float], ...]  # (feature, its AUC alone), most separating first

    def line(self, label: str) -> str:
        top = ", ".join(f"{name} (AUC {auc:.2f})" for name, auc in self.separating[:5])
        return f"{label}: accuracy={self.accuracy:.3f} +- {self.spread:.3f} (n={self.per_set} each); " \
               f"most separating: {top}"


def _single_feature_aucs(features: np.ndarray, labels: np.ndarray) -> list[tuple[str, float]]:
    from sklearn.metrics import roc_auc_score

    aucs = []
    for index, name in enumerate(FEATURE_NAMES):
        column = features[:, index]
        auc = 0.5 if np.ptp(column) == 0 else float(roc_auc_score(labels, column))
        aucs.append((name, auc))
    return sorted(aucs, key=lambda pair: -abs(pair[1] - 0.5))


def two_sample_test(a: np.ndarray, b: np.ndarray, folds: int = 5, seed: int = 0, paired: bool = False) -> C2STResult:
    """C2ST on two (M, F) feature tables: stratified `folds`-fold accuracy of a gradient-boosting
    classifier on balanced sets (the larger one subsampled with `seed`).

    paired: row i of `b` was made from row i of `a` (a reconstruction of it); the two then
    stay in one fold, since a near-twin on the other side of the split would teach the
    classifier the wrong label and push the accuracy below chance."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if paired and len(a) != len(b):
        raise ValueError(f"paired sets must be of one size, got {len(a)} and {len(b)}")
    per_set = min(len(a), len(b))
    if per_set < folds:
        raise ValueError(f"each set needs at least {folds} melodies with {MIN_NOTES}+ notes (one per fold), "
                         f"got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    order_a = rng.permutation(len(a))[:per_set]
    order_b = order_a if paired else rng.permutation(len(b))[:per_set]
    features = np.concatenate([a[order_a], b[order_b]])
    labels = np.repeat([0, 1], per_set)
    if paired:
        splits = StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(
            features, labels, np.tile(np.arange(per_set), 2))
    else:
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels)
    accuracies = []
    for train, test in splits:
        classifier = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=seed)
        classifier.fit(features[train], labels[train])
        accuracies.append(float((classifier.predict(features[test]) == labels[test]).mean()))
    return C2STResult(float(np.mean(accuracies)), float(np.std(accuracies)), per_set,
                      tuple(_single_feature_aucs(features, labels)))


def judged_pairs(real: Sequence[np.ndarray], fake: Sequence[np.ndarray]) -> tuple[list, list]:
    """Paired sets (fake[i] made from real[i]) without the pairs that hold a melody too short to judge."""
    if len(real) != len(fake):
        raise ValueError(f"paired sets must be of one size, got {len(real)} and {len(fake)}")
    kept = [index for index in range(len(real)) if judged(real[index]) and judged(fake[index])]
    return [real[index] for index in kept], [fake[index] for index in kept]


def real_vs_fake(real: Sequence[np.ndarray], fake: Sequence[np.ndarray], folds: int = 5, seed: int = 0,
                 paired: bool = False) -> C2STResult:
    """The C2ST of real against generated melodies. paired: fake[i] was made from real[i]
    (`two_sample_test`, `judged_pairs`)."""
    if paired:
        real, fake = judged_pairs(real, fake)
    return two_sample_test(feature_table(real), feature_table(fake), folds, seed, paired)


def real_vs_real(real: Sequence[np.ndarray], folds: int = 5, seed: int = 0) -> C2STResult:
    """The control: the C2ST between two random halves of the real melodies, which says how far
    from 0.5 chance alone lands with this many melodies."""
    features = feature_table(real)
    halves = np.random.default_rng(seed + 1).permutation(len(features))
    half = len(halves) // 2
    return two_sample_test(features[halves[:half]], features[halves[half:]], folds, seed)


def c2st(real: Sequence[np.ndarray], fake: Sequence[np.ndarray], folds: int = 5, seed: int = 0,
         paired: bool = False) -> tuple[C2STResult, C2STResult]:
    """(`real_vs_fake`, `real_vs_real` control): the test and the control always printed beside it
    (paired: both on the pairs `judged_pairs` keeps)."""
    if paired:
        real, fake = judged_pairs(real, fake)
    return real_vs_fake(real, fake, folds, seed, paired), real_vs_real(real, folds, seed)


def folder_melodies(directory: Path) -> dict[str, np.ndarray]:
    """Relative file name -> the first melody line of every readable MIDI file under `directory`
    (files without one skipped)."""
    from eval_lab.folder_musicality import midi_files, read_midi_melodies

    read, _ = read_midi_melodies(midi_files(directory))
    return {str(path.relative_to(directory)): lines[0] for path, lines in read.items() if lines}


def told_apart(real: Sequence[np.ndarray], melodies: Sequence[np.ndarray], paired: bool = False) -> float:
    """The accuracy a classifier tells `melodies` from the `real` ones with (`real_vs_fake`; the real
    set itself: its real-vs-real control); NaN for sets too small for the folds."""
    try:
        return (real_vs_real(real) if melodies is real else real_vs_fake(real, melodies, paired=paired)).accuracy
    except ValueError:
        return float("nan")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval_lab.c2st", description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, required=True, help="folder of real MIDI files (searched recursively)")
    parser.add_argument("--fake", type=Path, required=True, help="folder of generated MIDI files")
    parser.add_argument("--folds", type=int, default=5, help="stratified folds (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paired", action="store_true",
                        help="each --fake file was made from the --real file of the same relative name")
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error(f"--folds must be >= 2, got {args.folds}")
    for flag, folder in (("--real", args.real), ("--fake", args.fake)):
        if not folder.is_dir():
            parser.error(f"{flag} {folder} is not a folder")
    real, fake = folder_melodies(args.real), folder_melodies(args.fake)
    if args.paired:
        names = sorted(set(real) & set(fake))
        real, fake = {name: real[name] for name in names}, {name: fake[name] for name in names}
    print(f"read {len(real)} real and {len(fake)} generated melodies", file=sys.stderr)
    try:
        result, control = c2st(list(real.values()), list(fake.values()), args.folds, args.seed, args.paired)
    except ValueError as error:
        parser.error(str(error))
    print(result.line("real vs generated"))
    print(control.line("real vs real (control)"))
    print(f"c2st_accuracy={result.accuracy:.4f} control_accuracy={control.accuracy:.4f}")


if __name__ == "__main__":
    main()
