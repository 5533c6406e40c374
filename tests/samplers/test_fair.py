"""FairNAS groups: every choice of every position exactly once where the space allows it."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.samplers.fair import FairSampler
from samplenas.spaces import SPACES


@pytest.mark.parametrize("name", ["shufflenet", "nasnet"])
def test_groups_are_exactly_fair(name):
    space = SPACES[name]()
    sampler = FairSampler(space, seed=0)
    for _ in range(20):
        group = sampler.sample_group()
        assert len(group) == sampler.group_size == max(space.dims)
        assert all(space.is_valid(a) for a in group)
        for position in range(len(space.dims)):  # a permutation of the choices in every column
            assert sorted(a[position] for a in group) == list(range(space.dims[position]))
        assert sampler.deviation(group) == 0
    assert sampler.repaired_rows == 0  # NASNet's none-rule is met by column swaps alone


def test_nasnet_swaps_fix_nodes_with_only_none_inputs():
    """Without stage-1 swaps some rows would violate the none-rule; with them none needs repair."""
    space = SPACES["nasnet"]()
    sampler = FairSampler(space, seed=0, repair_swaps=0)
    for _ in range(20):
        sampler.sample_group()
    assert sampler.repaired_rows > 0


@pytest.mark.parametrize("name", ["nb101", "autoencoder"])
def test_constrained_groups_are_valid_and_nearly_fair(name):
    space = SPACES[name]()
    sampler = FairSampler(space, seed=0)
    groups = [sampler.sample_group() for _ in range(20)]
    assert all(space.is_valid(a) for group in groups for a in group)
    assert max(sampler.deviation(g) for g in groups) <= 4
    assert sampler.repaired_rows < 20 * sampler.group_size / 2


def test_deviation_detects_an_unfair_group():
    space = SPACES["shufflenet"]()
    sampler = FairSampler(space, seed=0)
    assert sampler.deviation([(0,) * 20] * 4) == 3  # choice 0 four times, the others never


def test_sample_returns_whole_groups():
    sampler = FairSampler(SPACES["shufflenet"](), seed=0)
    archs = sampler.sample(6)
    assert len(archs) == 8
    counts = np.array([[a[p] for a in archs[:4]] for p in range(20)])
    assert all(sorted(row) == [0, 1, 2, 3] for row in counts)
