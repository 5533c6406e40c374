"""Landmark regularisation (tools/landmarks_nb101.py): the hinge orders a landmark pair by standalone accuracy."""

import torch

from samplenas.supernet.nasbench101 import NASBench101Supernet
from tests.tools.test_zero_cost_nb101 import _load


class CrossEntropy:
    @staticmethod
    def loss(output, target):
        return torch.nn.functional.cross_entropy(output, target)


def test_hinge_charges_the_better_landmark_losing_and_runs_every_nth_step():
    tool = _load("landmarks_nb101")
    torch.manual_seed(0)
    supernet = NASBench101Supernet(stem_channels=6, num_stacks=1, cells_per_stack=1, image_size=8).eval()
    space = supernet.space
    a, b = space.sample_uniform(1), space.sample_uniform(2)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        loss = {arch: float(CrossEntropy.loss(supernet(x, arch), y)) for arch in (a, b)}
    worse_first = sorted((a, b), key=lambda arch: -loss[arch])  # the higher loss is called the better cell
    hinge = tool.LandmarkHinge([(worse_first[0], 0.9), (worse_first[1], 0.8)], CrossEntropy, 2.0, 2, seed=0)
    with torch.no_grad():
        off, on = float(hinge(supernet, x, y)), float(hinge(supernet, x, y))
        agreeing = tool.LandmarkHinge([(worse_first[0], 0.8), (worse_first[1], 0.9)], CrossEntropy, 2.0, 1, seed=0)
        agreed = float(agreeing(supernet, x, y))
    assert off == 0.0  # off-step
    expected = 2.0 * (loss[worse_first[0]] - loss[worse_first[1]])
    assert abs(on - expected) < 1e-5 and expected > 0
    assert agreed == 0.0  # the supernet already orders them as standalone training
