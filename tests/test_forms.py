"""Specification of forms (core.music.forms) and of sampling them tied (core.diffusion.samplers.sample_tied, the
TransformerMDN's firsts): restated latents are one variable, free ones stay independent."""

import numpy as np
import pytest
import torch

from core.diffusion.samplers import SAMPLERS, initial_noise, sample_tied, tie_mean
from core.diffusion.schedule import NoiseSchedule
from core.music.forms import (
    FREE_FORM,
    STYLE_FORM,
    corpus_forms,
    draw_form,
    form_of_chunks,
    letters,
    named_form,
    read_forms,
    representatives,
    write_forms,
)
from core.nets.mdn import TransformerMDN
from core.noise import seeded_generators
from tests.test_mdn import TINY
from tests.test_samplers import GaussianDenoiser

SCHEDULE = NoiseSchedule.linear()


def test_named_forms_tie_the_last_three_latents_of_every_returning_section():
    assert named_form("AABB", 16) == (0,) * 5 + (4,) * 3 + (0,) * 5 + (4,) * 3
    assert named_form("AABA", 16) == (0,) * 5 + (4,) * 3 + (0,) * 5 + (12,) * 3
    assert named_form("ABAC", 16) == (0,) * 9 + (8,) * 3 + (0,) * 4
    assert named_form(FREE_FORM, 6) == (0,) * 6
    assert letters(named_form("AABA", 16)) == "AABA" and letters(named_form("AABB", 32)) == "AABBCCDD"
    with pytest.raises(ValueError, match="no named form"):
        named_form("ABBA", 16)


def test_a_chunk_restates_the_nearest_earlier_chunk_it_equals_note_for_note_and_rests_restate_nothing():
    a, b, rest = np.full(32, 60, np.int8), np.full(32, 62, np.int8), np.zeros(32, np.int8)
    assert form_of_chunks(np.stack([a, b, a, a, rest, rest, b])) == (0, 0, 2, 1, 0, 0, 5)


def test_representatives_follow_a_chain_of_restatements_to_its_first_latent():
    assert representatives((0, 0, 1, 2, 0, 4)) == (0, 1, 1, 1, 4, 1)
    with pytest.raises(ValueError, match="cannot restate"):
        representatives((0, 2))


def test_corpus_forms_round_trip_and_the_style_form_is_one_of_them_per_seed(tmp_path):
    a, b = np.full((1, 32), 60, np.int8), np.full((1, 32), 64, np.int8)
    tunes = {"folk": [np.concatenate([a, b, a, b] * 2), np.concatenate([a, b])]}
    forms = corpus_forms(tunes, min_latents=2)
    assert forms == {"folk": [[0, 0, 2, 2, 2, 2, 2, 2], [0, 0]]}
    write_forms(tmp_path, forms)
    assert read_forms(tmp_path) == forms and read_forms(tmp_path / "nothing") == {}
    assert draw_form(STYLE_FORM, 6, "folk", forms, seed=3) == (0, 0, 2, 2, 2, 2), "the one tune long enough"
    assert draw_form(STYLE_FORM, 6, "renaissance", forms, seed=3) == (0,) * 6, "no such tune: free"
    assert draw_form("AABB", 8, "folk", forms, seed=3) == named_form("AABB", 8)
    assert {draw_form(STYLE_FORM, 2, "folk", forms, seed) for seed in range(20)} == {(0, 0)}, "both tunes start free"


def test_tie_mean_gives_every_latent_its_groups_mean():
    values = torch.tensor([[[1.0], [3.0], [5.0], [10.0]]])  # (1, 4, 1)
    firsts = torch.tensor([[0, 1, 0, 1]])
    assert tie_mean(values, firsts).flatten().tolist() == [3.0, 6.5, 3.0, 6.5]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_tied_latents_end_equal_and_free_ones_differ(name):
    firsts = torch.tensor(representatives((0, 0, 2, 0, 2, 0)))  # latent 2 restates 0, latent 4 restates 2
    noise = initial_noise((2, 6, 3), seeded_generators([0, 1]), "cpu")
    latents = sample_tied(SAMPLERS[name], GaussianDenoiser(0.2, 0.5), SCHEDULE, noise, firsts,
                          seeded_generators([0, 1]), steps=20).latents
    assert torch.equal(latents[:, 0], latents[:, 2]) and torch.equal(latents[:, 0], latents[:, 4])
    assert not torch.allclose(latents[:, 0], latents[:, 1]) and not torch.allclose(latents[:, 3], latents[:, 5])


def test_an_untied_form_samples_exactly_what_the_sampler_alone_does():
    noise = initial_noise((1, 5, 3), seeded_generators([4]), "cpu")
    model = GaussianDenoiser(0.0, 0.7)
    tied = sample_tied(SAMPLERS["ddim"], model, SCHEDULE, noise, torch.arange(5), seeded_generators([4]), steps=10)
    alone = SAMPLERS["ddim"](model, SCHEDULE, noise, seeded_generators([4]), steps=10)
    assert torch.allclose(tied.latents, alone.latents)


def test_a_group_must_start_at_or_before_each_of_its_latents():
    with pytest.raises(ValueError, match="at or before"):
        sample_tied(SAMPLERS["ddim"], GaussianDenoiser(0.0, 1.0), SCHEDULE, torch.zeros(1, 3, 2),
                    torch.tensor([0, 2, 2]), seeded_generators([0]), steps=2)


def test_the_mdn_restates_a_tied_latent_and_draws_the_free_ones():
    model = TransformerMDN(TINY).eval()
    firsts = torch.tensor([representatives((0, 0, 2, 0))])  # latent 2 restates 0
    with torch.no_grad():
        latents = model.sample(1, 4, seeded_generators([5]), firsts=firsts)
    assert torch.equal(latents[0, 2], latents[0, 0])
    assert not torch.allclose(latents[0, 1], latents[0, 0]) and not torch.allclose(latents[0, 3], latents[0, 0])
