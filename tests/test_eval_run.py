"""Specification of the evaluation protocol's seeding, its scoring of degenerate sets and the musicality sweep."""

import numpy as np
import pytest

from core.bundle import DEFAULT_MODEL_DIR
from eval_lab.metrics import NoFramePairsError, overlap_stats
from eval_lab.run import EvalConfig, system_seeds
from eval_lab.sweep import TARGETS, targets_met

pytestmark = pytest.mark.slow  # runs the evaluation protocol


def test_every_system_and_batch_gets_its_own_seeds():
    ddpm = system_seeds(0, "ddpm", 0, 400)
    assert len(set(ddpm)) == 400, "no collisions within a system, however many batches"
    assert system_seeds(0, "ddpm", 100, 50) == ddpm[100:150], "batches take slices of one stream"
    assert not set(ddpm) & set(system_seeds(0, "fast", 0, 400)), "systems do not share seeds"
    assert system_seeds(1, "ddpm", 0, 5) != ddpm[:5]
    assert all(0 <= seed < 2**31 for seed in ddpm)


def test_melodies_without_frame_pairs_raise_the_specific_error_the_evaluation_turns_into_nan():
    with pytest.raises(NoFramePairsError, match="no adjacent pair of frames"):
        overlap_stats([np.zeros(64, np.int8)])
    assert issubclass(NoFramePairsError, ValueError)


def test_each_length_infills_its_middle_half():
    assert EvalConfig().length == 32 and EvalConfig().kept_each_side == 8, "the paper: 64 bars, 16 + 16 kept"
    assert EvalConfig(length=16).kept_each_side == 4, "folk: 32 bars, bars 9-24 infilled"
    with pytest.raises(ValueError, match="multiple of 4 latents"):
        EvalConfig(length=10)


def test_the_musicality_targets_compare_a_setting_with_real_melodies():
    real = {"in_scale_share": 0.99, "notes_per_bar": 6.0, "silent_bar_share": 0.02, "leap_share": 0.04,
            "transposed_pattern_share": 0.30}
    close = {"in_scale_share": 0.95, "notes_per_bar": 6.85, "silent_bar_share": 0.07, "leap_share": 0.08,
             "transposed_pattern_share": 0.15}
    assert targets_met(close, real) == dict.fromkeys(TARGETS, True), "just inside every bound"
    off = {"in_scale_share": 0.94, "notes_per_bar": 5.0, "silent_bar_share": 0.08, "leap_share": 0.09,
           "transposed_pattern_share": 0.14}
    assert targets_met(off, real) == dict.fromkeys(TARGETS, False)


def test_the_sweep_scores_each_setting_drawn_infilled_and_with_its_phrases_shaped_against_real_melodies():
    from core.data.melody_cache import MelodyCache
    from core.pipeline import MelodyPipeline
    from eval_lab.heldout_sample import BUNDLED_SAMPLE_DIR, sample_paths
    from eval_lab.sweep import sweep

    latents, melodies = sample_paths(BUNDLED_SAMPLE_DIR)
    table = sweep(MelodyPipeline(DEFAULT_MODEL_DIR), latents, MelodyCache.load(melodies), ["renaissance"], [64],
                  [2.0], ["diffusion"], n=4, phrasing=True, infill=True).set_index("system")
    assert list(table.index) == ["real held-out", "held-out whole tunes (raw)", "diffusion", "diffusion + phrasing",
                                 "diffusion infill", "diffusion infill + phrasing"]
    whole = table.loc["held-out whole tunes (raw)"]
    assert whole.last_note_tonic in (0.0, 0.25, 0.5, 0.75, 1.0) and whole.notes_per_bar > 0, "4 tunes scored"
    assert np.isnan(whole.c2st_accuracy), "tunes of any length are no sample for the classifier"
    assert 0 <= table.loc["diffusion infill", "seams_within_kept_motion"] <= 1
    assert np.isnan(table.loc["diffusion", "seams_within_kept_motion"]), "seams are an infilling figure"
    # renaissance melodies are shaped no more (core.shaping): the same draws, the same figures
    drawn, shaped = table.loc["diffusion"], table.loc["diffusion + phrasing"]
    for unchanged in ("leap_share", "notes_per_bar", "silent_bar_share", "in_scale_share", "targets_met"):
        assert shaped[unchanged] == drawn[unchanged], f"phrasing leaves renaissance's {unchanged} as drawn"
