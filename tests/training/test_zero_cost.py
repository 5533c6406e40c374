"""Zero-cost proxies: exact values on networks whose answer is known in closed form, determinism, and the
rank-average helpers of the hybrid scorer."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from samplenas.errors import UserError
from samplenas.supernet.factory import make_supernet, network_settings
from samplenas.training.data import load_dataset
from samplenas.training.recipes import Recipe
from samplenas.training.tasks import make_task
from samplenas.training.zero_cost import (
    JACOB_K,
    PROXIES,
    ZeroCostScorer,
    combined_ranks,
    proxy_batch,
    within,
)


class LinearNets:
    """A stand-in supernet whose every architecture is conv(no bias) -> ReLU -> flatten -> linear(no bias)."""

    def __init__(self, positive: bool = False):
        self.anchor, self.positive = nn.Linear(1, 1), positive

    def parameters(self):
        return self.anchor.parameters()

    def deployed_network(self, arch):
        net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(),
                            nn.Linear(3 * 4 * 4, 2, bias=False))
        if self.positive:
            with torch.no_grad():
                for p in net.parameters():
                    p.abs_()
        return net

    def cost(self, arch):
        return {"params": 75, "macs": 528}


@pytest.fixture(scope="module")
def tiny():
    data = load_dataset("digits", splits=("train",))
    supernet = make_supernet("nb101", network_settings("nb101", {"stem_channels": 6, "num_stacks": 1,
                                                                 "cells_per_stack": 1}, data.info))
    task = make_task(Recipe(epochs=1, batch_size=16, network={}), data.info)
    return supernet, task, proxy_batch(data.train, 16, 0)


def test_every_proxy_is_finite_repeatable_and_leaves_the_supernet_and_rng_alone(tiny):
    supernet, task, batch = tiny
    arch = supernet.space.sample_uniform(np.random.default_rng(4))
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    state = torch.get_rng_state()
    for proxy in PROXIES:
        scorer = ZeroCostScorer(proxy, supernet, task, batch, seed=3)
        first, second = scorer.score(arch), scorer.score(arch)
        assert first == second and math.isfinite(first["score"]) and first[proxy] == first["score"]
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in supernet.state_dict().items())
    cost = supernet.cost(arch)
    assert ZeroCostScorer("params", supernet, task, batch).score(arch)["score"] == cost["params"]
    assert ZeroCostScorer("flops", supernet, task, batch).score(arch)["score"] == cost["macs"]
    with pytest.raises(UserError, match="unknown zero-cost proxy 'zen'"):
        ZeroCostScorer("zen", supernet, task, batch)


def _linear_scorer(proxy, inputs, positive: bool = False):
    task = make_task(Recipe(epochs=1, batch_size=4, network={}),
                     type("Info", (), {"num_classes": 2, "in_channels": 1, "image_size": 4})())
    targets = torch.zeros(len(inputs), dtype=torch.long)
    return ZeroCostScorer(proxy, LinearNets(positive), task, (inputs, targets), seed=1)


def test_synflow_conserves_the_output_in_every_layer():
    """SynFlow's conservation law (Tanaka et al. 2020): with positive weights, no bias and no batch norm,
    the scores of each layer's weights sum to the network's output R, so the total is layers x R."""
    scorer = _linear_scorer("synflow", torch.randn(4, 1, 4, 4))
    net = scorer.network(None).double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        output = float(net(torch.ones(1, 1, 4, 4, dtype=torch.float64)).sum())
    assert scorer.score(None)["score"] == pytest.approx(2 * output, rel=1e-9)


def test_jacob_cov_of_a_network_whose_jacobian_is_shared_by_every_example():
    """Positive inputs and weights keep every ReLU on: the network is linear, every example's Jacobian of the
    summed output is the same, the correlation matrix is all ones, its eigenvalues N and N - 1 zeros."""
    scorer = _linear_scorer("jacob_cov", torch.rand(5, 1, 4, 4) + 0.1, positive=True)
    n = 5
    expected = -(math.log(n + JACOB_K) + 1 / (n + JACOB_K) + (n - 1) * (math.log(JACOB_K) + 1 / JACOB_K))
    assert scorer.score(None)["score"] == pytest.approx(expected, rel=1e-6)


def test_naswot_counts_shared_activation_patterns_and_ranks_a_singular_kernel_last():
    distinct = _linear_scorer("naswot", torch.randn(4, 1, 4, 4)).score(None)["score"]
    assert math.isfinite(distinct) and distinct > 0
    twins = torch.randn(1, 1, 4, 4).repeat(4, 1, 1, 1)  # identical examples: K has equal rows, log|K| = -inf
    assert _linear_scorer("naswot", twins).score(None)["score"] == float("-inf")


def test_rank_average_and_reference_positions():
    assert combined_ranks([[1.0, 2.0, 3.0], [30.0, 20.0, 10.0]]) == [0.5, 0.5, 0.5]
    assert combined_ranks([[1.0, 2.0, 3.0], [1.0, 5.0, 9.0]]) == [0.0, 0.5, 1.0]
    assert within([0.0, 2.0, 10.0], [1.0, 2.0, 3.0, 4.0]) == [0.0, 0.375, 1.0]
    with pytest.raises(ValueError):
        combined_ranks([[1.0], [1.0, 2.0]])
