"""Specification of the evaluation protocol's seeding and its scoring of degenerate sets."""

import numpy as np
import pytest

from eval_lab.metrics import NoFramePairsError, overlap_stats
from eval_lab.run import system_seeds


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
