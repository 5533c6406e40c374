"""The predictor-filtered sampler: pass-through, never a known cell, mutation candidates, option
checks, and that filtering by a learned predictor queries better cells than its proposer alone."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.errors import UserError
from samplenas.samplers.predictor import PredictorSampler, normal_scores
from samplenas.samplers.uniform import UniformSampler
from samplenas.spaces import SPACES
from samplenas.spaces.nasbench101 import CONV3X3, NUM_PATHS

FAST = {"members": 3, "hidden": 16, "steps": 60}


def conv3x3_count(space):
    """A table-like NB101 objective: a function of the pruned cell only (conv3x3 vertices on some path)."""
    return lambda arch: float(space.decode(arch).ops.count(CONV3X3))


def queried_scores(sampler, score, rounds=8, per_round=10) -> list[float]:
    """The search loop of `study.search_curve` in small: propose, score, feed back."""
    scores = []
    for _ in range(rounds):
        archs = sampler.sample(per_round)
        values = [score(a) for a in archs]
        sampler.observe(archs, values)
        scores.extend(values)
    return scores


def test_normal_scores_keep_the_order_and_tame_outliers():
    values = np.array([0.93, 0.10, 0.91, 0.94, 0.92])
    out = normal_scores(values)
    assert list(np.argsort(out)) == list(np.argsort(values))
    assert out.sum() == pytest.approx(0.0)
    assert out.max() - out.min() < 3.0  # the 10 % cell is just the lowest, not 80 points below


def test_inner_draws_pass_through_until_enough_observations():
    space = SPACES["nb101"]()
    sampler = PredictorSampler(space, seed=4, inner="uniform", min_observations=10)
    reference = UniformSampler(space, seed=5)  # the inner sampler's own stream: seed + 1
    first = sampler.sample(6)
    assert first == reference.sample(6)
    sampler.observe(first, list(range(6)))
    assert sampler.sample(3) == reference.sample(3)


def test_never_proposes_an_observed_cell_and_never_one_twice(score):
    space = SPACES["nb101"]()
    sampler = PredictorSampler(space, seed=0, inner="uniform", min_observations=5, mutate_top=3, **FAST)
    passed_through = sampler.sample(8)  # the inner draws, repeats and all
    sampler.observe(passed_through, [score(a) for a in passed_through])
    keys = []
    for _ in range(4):
        archs = sampler.sample(8)
        keys.extend(space.key(a) for a in archs)
        sampler.observe(archs, [score(a) for a in archs])
    assert len(keys) == len(set(keys))
    assert not set(keys) & {space.key(a) for a in passed_through}


def test_mutation_candidates_are_neighbours_of_the_best_cells():
    space = SPACES["shufflenet"]()
    sampler = PredictorSampler(space, seed=1, inner="uniform", pool=2, mutate_top=1, min_observations=2)
    archs = sampler.sample(6)
    sampler.observe(archs, [0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    best = archs[2]
    neighbours = [c for c in sampler.candidates(5) if sum(x != y for x, y in zip(c, best)) == 1]
    assert len(neighbours) >= 5  # 10 mutations of the best; uniform draws are almost never this close


def test_repeats_keep_their_first_score_but_still_reach_the_inner_sampler():
    space = SPACES["nb101"]()
    sampler = PredictorSampler(space, inner="evolution")
    arch = sampler.sample(1)[0]
    sampler.observe([arch, arch], [1.0, 2.0])
    assert sampler.observations == [(arch, 1.0)]
    assert sampler.inner.best() == (arch, 1.0)


@pytest.mark.parametrize("options, message", [
    ({"inner": "predictor"}, "another registered sampler"),
    ({"inner": "nope"}, "another registered sampler"),
    ({"pool": 0}, "pool"),
    ({"mutate_top": -1}, "mutate_top"),
    ({"lr": 0.0}, "lr > 0"),
    ({"kappa": float("inf")}, "finite kappa"),
    ({"min_observations": 1}, "min_observations"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UserError, match=message) as err:
        PredictorSampler(SPACES["nb101"](), **options)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("space_name", ["shufflenet", "nb101"])
def test_filtering_queries_better_cells_than_the_proposer_alone(space_name, score):
    space = SPACES[space_name]()
    objective = conv3x3_count(space) if space_name == "nb101" else score
    for seed in range(2):
        plain = queried_scores(UniformSampler(space, seed=seed + 1), objective)
        filtered = queried_scores(PredictorSampler(space, seed=seed, inner="uniform", **FAST), objective)
        assert plain[:20] == filtered[:20]  # the same proposer stream until the predictor takes over
        assert np.mean(filtered[20:]) > np.mean(plain[20:]) + 0.5


def test_nb101_features_are_the_path_encoding_of_the_pruned_cell():
    space = SPACES["nb101"]()
    # edges 0-1, 1-6 and 0-6: two paths (input->output, input->op1->output); vertices 2-5 dangle
    arch = tuple(1 if e in (0, 5, 10) else 0 for e in range(21)) + (2, 0, 0, 0, 0)
    features = space.features(arch)
    assert features.shape == (NUM_PATHS,)
    assert sorted(np.flatnonzero(features)) == [0, 1 + 2]  # the empty path; the one-op path through maxpool
    dangling_op_changed = arch[:22] + (1, 1, 1, 1)
    assert np.array_equal(space.features(dangling_op_changed), features)
    assert not np.array_equal(space.features(arch[:21] + (1, 0, 0, 0, 0)), features)


@pytest.mark.parametrize("space_name", SPACES.names())
def test_features_have_one_length_per_space(space_name):
    space = SPACES[space_name]()
    rng = np.random.default_rng(0)
    rows = np.stack([space.features(space.sample_uniform(rng)) for _ in range(20)])
    assert rows.dtype == np.float32 and set(np.unique(rows)) <= {0.0, 1.0} and rows.any(axis=1).all()
