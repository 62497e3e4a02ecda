import numpy as np
import torch

from core.diffusion.baselines import interpolate_gaps, slerp


def test_slerp_starts_and_ends_at_its_endpoints_and_keeps_the_norm_on_a_circle():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    path = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))[0]
    assert torch.allclose(path[0], a[0]) and torch.allclose(path[-1], b[0], atol=1e-6)
    assert torch.allclose(path[1], torch.tensor([0.5 ** 0.5, 0.5 ** 0.5]), atol=1e-6)
    assert torch.allclose(path.norm(dim=-1), torch.ones(3), atol=1e-6)


def test_slerp_from_the_zero_latent_falls_back_to_a_straight_line():
    a, b = torch.zeros(1, 3), torch.tensor([[2.0, 0.0, 0.0]])
    path = slerp(a, b, torch.tensor([0.25, 0.5]))[0]
    assert torch.allclose(path, torch.tensor([[0.5, 0.0, 0.0], [1.0, 0.0, 0.0]]))


def test_gaps_are_interpolated_between_neighbours_and_edges_repeat_their_neighbour():
    z = torch.tensor([[9.0, 9.0], [1.0, 0.0], [7.0, 7.0], [0.0, 1.0], [5.0, 5.0]])
    known = np.array([False, True, False, True, False])
    filled = interpolate_gaps(z, known)
    assert torch.equal(filled[[1, 3]], z[[1, 3]])
    assert torch.allclose(filled[2], torch.tensor([0.5 ** 0.5, 0.5 ** 0.5]), atol=1e-6)
    assert torch.equal(filled[0], z[1]) and torch.equal(filled[4], z[3])
