"""Non-dominated sorting, crowding, hypervolume and the ask/tell NSGA-II."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.errors import UserError
from samplenas.samplers.budget import Budget
from samplenas.samplers.pareto import NSGA2, crowding, front_ranks, hypervolume, non_dominated
from samplenas.spaces import SPACES


def brute_force_front(points: np.ndarray) -> set[int]:
    return {i for i, p in enumerate(points)
            if not any(np.all(q <= p) and np.any(q < p) for q in points)}


def test_non_dominated_matches_brute_force():
    rng = np.random.default_rng(0)
    points = rng.integers(0, 12, size=(200, 2)).astype(float)  # many ties
    found = non_dominated(points)
    assert list(points[found, 0]) == sorted(points[found, 0])
    assert {tuple(points[i]) for i in found} == {tuple(points[i]) for i in brute_force_front(points)}


def test_front_ranks_peel_fronts_and_ties_share_one():
    points = np.array([[1, 3], [2, 2], [3, 1], [2, 3], [3, 3], [1, 3]], dtype=float)
    assert front_ranks(points).tolist() == [0, 0, 0, 1, 2, 0]


def test_crowding_marks_the_ends_infinite():
    distance = crowding(np.array([[0, 4], [1, 2], [3, 1], [4, 0]], dtype=float))
    assert np.isinf(distance[[0, 3]]).all()
    assert distance[1] == pytest.approx(3 / 4 + 3 / 4) and distance[2] == pytest.approx(3 / 4 + 2 / 4)


def test_hypervolume_of_a_staircase():
    points = np.array([[1, 3], [2, 1], [3, 3], [5, 0]], dtype=float)  # [3, 3] is dominated; [5, 0] lies outside
    assert hypervolume(points, [4, 4]) == pytest.approx(1 * 1 + 2 * 3)
    assert hypervolume(np.array([[5.0, 5.0]]), [4, 4]) == 0.0


def two_objectives(arch) -> tuple[float, float]:
    """Cost: the sum of the choices; error: how few positions take choice 1."""
    return float(sum(arch)), float(sum(1 for c in arch if c != 1))


@pytest.mark.parametrize("space_name", ["nasnet", "shufflenet", "nb101"])
def test_nsga2_never_repeats_and_keeps_the_budget(space_name):
    space = SPACES[space_name]()
    rng = np.random.default_rng(5)
    limit = float(np.median([sum(space.sample_uniform(rng)) for _ in range(40)]))
    search = NSGA2(space, seed=1, population_size=8,
                   budget=Budget({"params": limit}, lambda a: {"params": float(sum(a))}))
    for _ in range(6):
        archs = search.ask(8)
        search.tell(archs, [two_objectives(a) for a in archs])
    keys = [space.key(a) for a in search.archs]
    assert len(keys) == len(set(keys)) == 48
    assert all(sum(a) <= limit for a in search.archs)
    assert len(search.population) == 8
    front = search.front()
    assert [search.objectives[i][0] for i in front] == sorted(search.objectives[i][0] for i in front)


def test_nsga2_beats_random_on_a_synthetic_front():
    space = SPACES["shufflenet"]()
    reference = [3 * len(space.dims) + 1, len(space.dims) + 1]
    volumes = {"nsga2": [], "random": []}
    for seed in range(3):
        search = NSGA2(space, seed=seed, population_size=10)
        while len(search.archs) < 150:
            archs = search.ask(10)
            search.tell(archs, [two_objectives(a) for a in archs])
        volumes["nsga2"].append(hypervolume(np.asarray(search.objectives), reference))
        rng = np.random.default_rng(seed)
        drawn = [two_objectives(space.sample_uniform(rng)) for _ in range(150)]
        volumes["random"].append(hypervolume(np.asarray(drawn), reference))
    assert np.mean(volumes["nsga2"]) > np.mean(volumes["random"])


def test_nsga2_refuses_bad_feedback():
    search = NSGA2(SPACES["nasnet"](), population_size=4)
    archs = search.ask(2)
    with pytest.raises(UserError, match="2 architectures but 1"):
        search.tell(archs, [(1.0, 2.0)])
    with pytest.raises(UserError, match="two finite numbers"):
        search.tell(archs[:1], [(1.0, float("nan"))])
