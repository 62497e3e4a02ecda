"""The latent-robustness lab: held-out latents moved by known amounts and decoded (eval_lab.latent_robustness)."""

import numpy as np
import pytest

from core.data.latent_sequences import LatentSequences
from eval_lab.heldout_sample import BUNDLED_SAMPLE_DIR, sample_paths
from eval_lab.latent_robustness import robustness_table

pytestmark = pytest.mark.slow  # decodes 8 held-out windows five times with the committed VAE


def test_each_row_moves_the_latents_as_far_as_it_says_and_the_own_latents_not_at_all(committed_pipeline):
    sequences = LatentSequences.load(sample_paths(BUNDLED_SAMPLE_DIR)[0])
    rows = sequences.windows("eval", 8, style="folk")[:8]
    table = robustness_table(committed_pipeline, sequences.gather(rows, 8),
                             sequences.span_outlines(np.column_stack([rows, np.full(len(rows), 8)])),
                             "folk", 2.0, ratios=(0.5,), weights=(0.5,), levels=(5,)).set_index("latents")
    assert list(table.index) == ["own", "noise 0.5 std", "0.5 of the way to another", "diffusion from step 5"]
    assert table.loc["own", "moved"] == 0.0
    assert table.loc["noise 0.5 std", "moved"] == pytest.approx(0.5, abs=0.06)  # rest chunks are not moved
    assert 0.0 < table.loc["diffusion from step 5", "moved"] < table.loc["noise 0.5 std", "moved"]
    assert table[["repeated_share", "step_share", "larger_share"]].sum(axis=1).between(0.0, 1.0).all()
    assert (table["notes_per_bar"] > 0).all()
