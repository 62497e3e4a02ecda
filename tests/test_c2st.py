"""Specification of the classifier two-sample test (eval_lab.c2st) on synthetic melodies whose
difference is known: it must find it, name the feature that carries it, and stay near chance
for two samples of one kind."""

import numpy as np
import pytest

from core.music.melody import melody_from_notes
from eval_lab.c2st import FEATURE_NAMES, c2st, feature_table, main, melody_features, told_apart
from tests.midi_factory import instrument, midi_bytes, note

pytestmark = pytest.mark.slow  # cross-validates classifiers


def walk(rng: np.random.Generator, repeat_chance: float, notes: int = 32) -> np.ndarray:
    """A quarter-note random walk by steps that repeats its note with `repeat_chance`."""
    pitches = [67]
    for _ in range(notes - 1):
        pitches.append(pitches[-1] if rng.random() < repeat_chance else pitches[-1] + int(rng.choice([-2, -1, 1, 2])))
    starts = np.arange(notes) * 4
    return melody_from_notes(starts, starts + 4, np.clip(pitches, 48, 84))


def test_features_are_one_value_per_name_and_histograms_sum_to_one():
    features = melody_features(walk(np.random.default_rng(0), 0.2))
    assert features.shape == (len(FEATURE_NAMES),)
    intervals = [i for i, name in enumerate(FEATURE_NAMES) if name.startswith("interval_")]
    onsets = [i for i, name in enumerate(FEATURE_NAMES) if name.startswith("onset_step_")]
    assert features[intervals].sum() == pytest.approx(1.0)
    assert features[onsets].sum() == pytest.approx(1.0)
    assert features[FEATURE_NAMES.index("onset_step_0")] == pytest.approx(0.25)  # quarter notes: beats 1-4


def test_melodies_with_too_few_notes_are_left_out():
    rng = np.random.default_rng(1)
    assert feature_table([walk(rng, 0.1), walk(rng, 0.1, notes=3)]).shape == (1, len(FEATURE_NAMES))


def test_it_tells_a_repeated_note_smear_from_the_real_thing_and_names_it():
    rng = np.random.default_rng(2)
    real = [walk(rng, 0.1) for _ in range(160)]
    smeared = [walk(rng, 0.4) for _ in range(160)]
    result, control = c2st(real, smeared)
    assert result.accuracy > 0.8
    assert result.per_set == 160
    assert {name for name, _ in result.separating[:2]} & {"interval_0", "run_note_share"}
    assert control.accuracy < 0.68
    assert control.per_set == 80


def test_two_samples_of_one_kind_stay_near_chance():
    rng = np.random.default_rng(3)
    result, _ = c2st([walk(rng, 0.15) for _ in range(120)], [walk(rng, 0.15) for _ in range(120)])
    assert 0.35 < result.accuracy < 0.65


def test_too_few_melodies_for_the_folds_is_refused_with_the_counts():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="at least 5 melodies"):
        c2st([walk(rng, 0.1) for _ in range(6)], [walk(rng, 0.1) for _ in range(3)])
    assert np.isnan(told_apart([walk(rng, 0.1) for _ in range(6)], [walk(rng, 0.1) for _ in range(3)])), \
        "the tables' column: NaN, not a failed run"


def test_told_apart_scores_a_smear_high_and_gives_the_real_set_its_control():
    rng = np.random.default_rng(5)
    real = [walk(rng, 0.1) for _ in range(60)]
    assert told_apart(real, [walk(rng, 0.6) for _ in range(60)]) > 0.8
    assert 0.3 < told_apart(real, real) < 0.7


def test_the_command_reads_two_midi_folders_and_prints_both_accuracies(tmp_path, capsys):
    rng = np.random.default_rng(5)
    for folder, repeat_chance in (("real", 0.1), ("fake", 0.45)):
        (tmp_path / folder).mkdir()
        for index in range(30):
            pitches = [67]
            for _ in range(31):
                pitches.append(pitches[-1] if rng.random() < repeat_chance else pitches[-1] + int(rng.choice([-2, 2])))
            notes = [note(2 * i, 2 * i + 2, p) for i, p in enumerate(pitches)]
            (tmp_path / folder / f"{index}.mid").write_bytes(midi_bytes([instrument(notes)]))
    main(["--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"), "--folds", "3"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("real vs generated: accuracy=")
    assert lines[1].startswith("real vs real (control): accuracy=")
    fake_accuracy = float(lines[-1].split()[0].split("=")[1])
    assert fake_accuracy > 0.7


def test_paired_copies_stay_in_one_fold_so_they_score_chance_not_below_it():
    rng = np.random.default_rng(6)
    real = [walk(rng, 0.15) for _ in range(100)]
    copies = [tune.copy() for tune in real]  # a perfect reconstruction of each tune
    paired, _ = c2st(real, copies, paired=True)
    unpaired, _ = c2st(real, copies)
    assert paired.accuracy == pytest.approx(0.5)
    assert unpaired.accuracy < 0.4, "a copy on the other side of the split teaches the wrong label"
    with pytest.raises(ValueError, match="one size"):
        c2st(real, copies[:50], paired=True)
