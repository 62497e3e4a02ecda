"""Specification of `core.shaping.repeats`: near-repeats of earlier latents become exact repeats, as often as
real melodies of the style restate their phrases."""

import pytest
import torch

from core.bundle import DEFAULT_MODEL_DIR
from core.data.latent_sequences import LatentSequences
from core.shaping.repeats import (
    EXACT_REPEAT_DISTANCE,
    REAL_REPEAT_SHARES,
    RESTATE_OFFSETS,
    kept_sources,
    nearest_earlier,
    restate_phrases,
    snap_repeats,
)

A, B, C, D, E, F, G, H = torch.eye(8)  # phrases far apart: 0.5 RMS between any two


def repeat_share(latents: torch.Tensor) -> float:
    """(B, K, D) sequences -> the share of their latents after the first that equal an earlier one."""
    repeats = [nearest_earlier(sequence)[0][1:] < EXACT_REPEAT_DISTANCE for sequence in latents]
    return float(torch.cat(repeats).float().mean())


def test_the_latents_nearest_to_one_4_bars_or_more_back_become_copies_of_it_and_the_rest_stay():
    latents = torch.stack([A, B, C, D, A + 0.02, B + 0.01, C + 0.1])  # 4 back: RMS 0.02, 0.01 and 0.1
    snapped = snap_repeats(latents, share=1 / 6, max_distance=1.0)  # round(6 / 6) = 1 copy: the nearest
    assert torch.equal(snapped[5], B) and torch.equal(snapped[4], A + 0.02)
    snapped = snap_repeats(latents, share=2 / 6, max_distance=1.0)
    assert torch.equal(snapped[4], A) and torch.equal(snapped[5], B) and torch.equal(snapped[6], C + 0.1)
    assert torch.equal(snapped[:4], latents[:4]), "the originals are left alone"
    assert repeat_share(snapped[None]) == pytest.approx(2 / 6)


def test_phrases_come_back_8_bars_later_before_4_or_16_and_never_right_after_themselves():
    nearest, source = nearest_earlier(torch.stack([A, B, A + 0.01, C, A + 0.03]), RESTATE_OFFSETS)
    assert source[4] == 0 and nearest[4] == pytest.approx(0.03), "8 bars back (0.03) beats 4 bars back (0.02 + 0.05)"
    assert source[2] == 0 and nearest[2] == pytest.approx(0.06) and nearest[0] == nearest[1] == float("inf")
    twice = torch.stack([A, A + 0.01, B, B + 0.01])  # each nearest to the phrase just before it
    assert torch.equal(snap_repeats(twice, share=0.9), twice), "no phrase is played twice in a row"


def test_a_latent_far_from_every_earlier_one_is_never_copied_whatever_the_share():
    latents = torch.stack([A, B, C, D, A + 0.02])
    snapped = snap_repeats(latents, share=0.9, max_distance=0.05)
    assert torch.equal(snapped[4], A), "0.02 RMS from the phrase 8 bars back: copied"
    assert torch.equal(snapped[:4], latents[:4]), "the others lie 0.5 RMS or more from every allowed source"


def test_a_copy_of_a_copy_is_the_original():
    latents = torch.stack([A, B, C, D, A + 0.02, E, F, G, A + 0.04])
    nearest, source = nearest_earlier(latents, RESTATE_OFFSETS)
    assert source[4] == 0 and source[8] == 4, "the last is nearest to the one 8 bars back, itself near the first"
    snapped = snap_repeats(latents, share=0.9, max_distance=0.05)
    assert torch.equal(snapped[4], A) and torch.equal(snapped[8], A)


def test_when_infilling_only_the_regenerated_latents_become_copies_and_they_may_copy_kept_ones():
    latents = torch.stack([A, B, A + 0.01, D, A + 0.02, B + 0.04])  # four kept, then two regenerated
    movable = torch.tensor([False, False, False, False, True, True])
    snapped = snap_repeats(latents, share=0.5, max_distance=1.0, movable=movable)  # round(0.5 * 2) = 1 copy
    assert torch.equal(snapped[:4], latents[:4]), "kept latents stay, though A + 0.01 lies near A 4 bars back"
    assert torch.equal(snapped[4], A) and torch.equal(snapped[5], B + 0.04), "the nearer regenerated one"
    assert torch.equal(kept_sources(snapped, ~movable), torch.tensor([0, 1, 2, 3, 0, -1]))


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


def test_sequences_are_restated_one_by_one_and_share_0_restates_nothing():
    sequences = torch.stack([torch.stack([A, B, C, D, A + 0.01]), torch.stack([A, B, C, D, E])])
    restated = restate_phrases(sequences, 0.37)  # round(0.37 * 4) = 1 copy per sequence, if near enough
    assert torch.equal(restated[0], torch.stack([A, B, C, D, A])) and torch.equal(restated[1], sequences[1])
    assert torch.equal(restate_phrases(sequences, 0.0), sequences)
