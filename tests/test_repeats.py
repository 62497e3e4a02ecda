"""Specification of `core.repeats`: near-repeats of earlier latents become exact repeats, as often as
real melodies of the style restate their phrases."""

import pytest
import torch

from core.bundle import DEFAULT_MODEL_DIR
from core.latent_sequences import LatentSequences
from core.repeats import (
    REAL_REPEAT_SHARES,
    kept_sources,
    nearest_earlier,
    repeat_share,
    repeat_share_for,
    restate_phrases,
    snap_repeats,
)

A, B, C = torch.eye(4)[0], torch.eye(4)[1], torch.eye(4)[2]


def test_the_latents_nearest_to_an_earlier_one_become_copies_of_it_and_the_rest_stay():
    latents = torch.stack([A, A + 0.02, B, B + 0.01, C])  # RMS 0.02 and 0.01 from an earlier latent
    snapped = snap_repeats(latents, share=0.25, max_distance=1.0)  # round(0.25 * 4) = 1 copy: the nearest
    assert torch.equal(snapped[3], B) and torch.equal(snapped[1], A + 0.02)
    snapped = snap_repeats(latents, share=0.5, max_distance=1.0)
    assert torch.equal(snapped[1], A) and torch.equal(snapped[3], B)
    assert torch.equal(snapped[[0, 2, 4]], latents[[0, 2, 4]]), "originals and new phrases are left alone"
    assert repeat_share(snapped[None]) == 0.5


def test_a_latent_far_from_every_earlier_one_is_never_copied_whatever_the_share():
    latents = torch.stack([A, B, C, A + 0.02])
    snapped = snap_repeats(latents, share=0.9, max_distance=0.05)
    assert torch.equal(snapped[3], A), "0.02 RMS from the first: copied"
    assert torch.equal(snapped[:3], latents[:3]), "B and C lie 0.71 RMS from everything before them"


def test_a_copy_of_a_copy_is_the_original():
    latents = torch.stack([A, A + 0.02, A + 0.04])  # each nearest to the one just before it
    nearest, source = nearest_earlier(latents)
    assert source.tolist()[1:] == [0, 1] and nearest[0] == float("inf")
    snapped = snap_repeats(latents, share=0.9, max_distance=1.0)
    assert torch.equal(snapped, torch.stack([A, A, A]))


def test_when_infilling_only_the_regenerated_latents_become_copies_and_they_may_copy_kept_ones():
    latents = torch.stack([A, A + 0.01, B, A + 0.02, B + 0.04])  # kept, kept, kept, regenerated, regenerated
    movable = torch.tensor([False, False, False, True, True])
    snapped = snap_repeats(latents, share=0.5, max_distance=1.0, movable=movable)  # round(0.5 * 2) = 1 copy
    assert torch.equal(snapped[:3], latents[:3]), "kept latents stay, though A + 0.01 lies nearest to A"
    assert torch.equal(snapped[3], A + 0.01) and torch.equal(snapped[4], B + 0.04), "the nearer regenerated one"
    assert torch.equal(kept_sources(snapped, ~movable), torch.tensor([0, 1, 2, 1, -1]))


def test_share_zero_changes_nothing_and_a_full_share_is_refused():
    latents = torch.randn(6, 4)
    assert snap_repeats(latents, 0.0) is latents
    with pytest.raises(ValueError, match=r"share must lie in \[0, 1\)"):
        snap_repeats(latents, 1.0)


def test_the_real_shares_are_those_of_the_held_out_melodies_shipped_with_the_model():
    sample = LatentSequences.load(DEFAULT_MODEL_DIR / "heldout" / "latents.npz")
    for style in ("folk", "renaissance"):
        rows = sample.windows("eval", 16, stride=16, style=style)  # 32-bar windows, as the shares were measured
        assert repeat_share(sample.gather(rows, 16)) == pytest.approx(REAL_REPEAT_SHARES[style], abs=0.05), style


def test_folk_is_restated_as_often_as_real_folk_and_the_other_styles_are_left_as_drawn():
    assert repeat_share_for("folk") == REAL_REPEAT_SHARES["folk"]
    assert [repeat_share_for(style) for style in ("renaissance", "classical", "chorale", "other", "any")] == [0.0] * 5


def test_sequences_are_restated_one_by_one_and_guidance_0_ignoring_the_style_restates_nothing():
    sequences = torch.stack([torch.stack([A, A + 0.01, B, B + 0.02]), torch.stack([A, B, C, C + 0.01])])
    restated = restate_phrases(sequences, "folk", 2.0)  # round(0.37 * 3) = 1 copy per sequence: its nearest
    assert torch.equal(restated[0], torch.stack([A, A, B, B + 0.02])) and torch.equal(restated[1, 3], C)
    assert torch.equal(restate_phrases(sequences, "folk", 0.0), sequences)
    assert torch.equal(restate_phrases(sequences, "renaissance", 2.0), sequences)
