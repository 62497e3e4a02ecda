"""Specification of forms (core.music.forms) and of sampling them tied (core.diffusion.samplers.sample_tied, the
TransformerMDN's firsts and sources): restated latents are one variable, echoing ones are drawn from their
sources' noise, free ones stay independent."""

import numpy as np
import pytest
import torch

from core.diffusion.samplers import SAMPLERS, initial_noise, sample_tied, tie_mean
from core.diffusion.schedule import NoiseSchedule
from core.music.constants import NO_EVENT
from core.music.forms import (
    FREE_FORM,
    STYLE_FORM,
    corpus_forms,
    draw_form,
    form_of_chunks,
    letters,
    named_form,
    noise_sources,
    read_forms,
    representatives,
    write_forms,
)
from core.music.melody import pitch_to_token
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
    assert "".join(letters(named_form("AABA", 16))) == "AABA"
    assert "".join(letters(named_form("AABB", 32))) == "AABBCCDD"
    with pytest.raises(ValueError, match="no named form"):
        named_form("ABBA", 16)


def test_a_chunk_restates_the_nearest_earlier_chunk_it_equals_note_for_note_and_rests_restate_nothing():
    a, b, rest = np.full(32, 60, np.int8), np.full(32, 62, np.int8), np.zeros(32, np.int8)
    assert form_of_chunks(np.stack([a, b, a, a, rest, rest, b])) == (0, 0, 2, 1, 0, 0, 5)


def bars(*pitches: int) -> np.ndarray:
    """A (32,) chunk of two bars of eighth notes on `pitches` (16 of them), each held one eighth."""
    chunk = np.full(32, NO_EVENT, np.int8)  # every note held to the next
    chunk[::2] = pitch_to_token(np.asarray(pitches))
    return chunk


def test_a_chunk_echoes_the_chunk_4_or_8_bars_back_whose_bar_contours_its_own_follow():
    rising = bars(*range(60, 68), *range(62, 70))
    answer = bars(*range(62, 70), *range(64, 71), 64)  # the same rise a step higher, a new last note
    falling = bars(*range(67, 59, -1), *range(69, 61, -1))
    chunks = np.stack([rising, falling, answer, falling[::-1].copy(), rising, answer])
    form = form_of_chunks(chunks)
    assert form[2] == -2, "follows chunk 0's contours (4 bars back)"
    assert form[4] == 4 and form[5] == 3, "a note-for-note restatement is a restatement, not an echo"
    assert form[3] == 0, "another shape echoes nothing"
    held = np.full(32, NO_EVENT, np.int8)
    held[0] = pitch_to_token(60)  # one note held through both bars: its second bar starts no note
    assert form_of_chunks(np.stack([held, rising, held])) == (0, 0, 2), "restated exactly"
    assert form_of_chunks(np.stack([rising, falling, held]))[2] == 0, "a bar without an onset echoes nothing"


def test_representatives_follow_a_chain_of_restatements_to_its_first_latent():
    assert representatives((0, 0, 1, 2, 0, 4)) == (0, 1, 1, 1, 4, 1)
    assert representatives((0, 0, -2, 0, 4)) == (0, 1, 2, 3, 0), "an echo starts a group of its own"
    with pytest.raises(ValueError, match="cannot restate"):
        representatives((0, 2))


def test_noise_sources_follow_restatements_and_echoes_back_to_a_free_latent():
    assert noise_sources((0, 0, -2, 0, 0, 4, -4)) == (0, 1, 0, 3, 4, 1, 0)
    assert noise_sources((0, 0, 0)) == (0, 1, 2)
    with pytest.raises(ValueError, match="cannot restate or echo"):
        noise_sources((0, -2))


def test_a_section_where_half_the_latents_echo_an_earlier_one_is_lettered_with_a_prime():
    assert letters((0, 0, 0, 0, 0, -4, -4, 0, 0, 0, 0, 0, 0, 4, -4, 4)) == ("A", "A′", "B", "B")
    assert letters((0, 0, -2, -2, 0, -4, 0, 0)) == ("A", "B"), "one echo, and echoes inside a section, name nothing"
    assert letters((0,) * 8 + (-4,) * 4) == ("A", "B", "B′")
    assert letters((0,) * 8 + (-8, -8, -4, 0)) == ("A", "B", "A′"), "the section most of them echo"


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


class PlacedDenoiser(GaussianDenoiser):
    """The Gaussian data's exact eps, shifted by an amount that depends on the latent's place."""

    def forward(self, x, noise_level):
        return super().forward(x, noise_level) + 0.3 * (torch.arange(x.shape[1]) % 2)[None, :, None]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_an_echo_is_drawn_from_its_sources_noise_so_only_its_place_sets_it_apart(name):
    form = (0, 0, -2, 0, -1, -4)  # 2 echoes 0, 4 echoes 3, 5 echoes 1
    firsts, sources = torch.tensor(representatives(form)), torch.tensor(noise_sources(form))
    noise = initial_noise((2, 6, 3), seeded_generators([0, 1]), "cpu")
    draw = lambda model: sample_tied(SAMPLERS[name], model, SCHEDULE, noise, firsts,  # noqa: E731
                                     seeded_generators([0, 1]), steps=20, sources=sources).latents
    blind = draw(GaussianDenoiser(0.2, 0.5))  # the same eps in every place: an echo is its source exactly
    assert torch.equal(blind[:, 2], blind[:, 0]) and torch.equal(blind[:, 4], blind[:, 3])
    assert torch.equal(blind[:, 5], blind[:, 1])
    assert not torch.allclose(blind[:, 0], blind[:, 1]) and not torch.allclose(blind[:, 0], blind[:, 3])
    placed = draw(PlacedDenoiser(0.2, 0.5))  # odd places denoised otherwise: echoes across them differ
    assert torch.equal(placed[:, 2], placed[:, 0]) and torch.equal(placed[:, 5], placed[:, 1]), "alike places"
    assert not torch.allclose(placed[:, 4], placed[:, 3]), "an even place echoing an odd one"


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


def test_the_mdn_draws_an_echo_with_its_sources_component_and_noise_in_its_own_context():
    model = TransformerMDN(TINY).eval()
    form = (0, 0, -2, 0)  # latent 2 echoes 0
    firsts, sources = torch.tensor([representatives(form)]), torch.tensor([noise_sources(form)])
    with torch.no_grad():
        free = model.sample(1, 4, seeded_generators([5]), firsts=firsts)
        echoed = model.sample(1, 4, seeded_generators([5]), firsts=firsts, sources=sources)
    assert torch.equal(echoed[0, :2], free[0, :2]), "the latents before the echo are drawn as without it"
    assert not torch.allclose(echoed[0, 2], free[0, 2]), "its own draw replaced by its source's"
    assert not torch.allclose(echoed[0, 2], echoed[0, 0]), "drawn in its own context, not copied"
