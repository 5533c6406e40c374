"""The zero-cost proxy filter: the best n of the pool by the proxy (against brute force on NB101's
parameter counts), pass-through at pool 1, repeats and ties, option checks, exact resume, the budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

from samplenas.errors import UserError
from samplenas.samplers.budget import Budget
from samplenas.samplers.evolution import EvolutionSampler
from samplenas.samplers.proxy_filter import ProxyFilterSampler
from samplenas.samplers.uniform import UniformSampler
from samplenas.spaces import SPACES
from samplenas.supernet.factory import make_supernet

TINY_NB101 = {"stem_channels": 8, "num_stacks": 1, "cells_per_stack": 1, "num_classes": 10}


@pytest.fixture(scope="module")
def supernet():
    return make_supernet("nb101", TINY_NB101)


def params(supernet):
    return lambda arch: float(supernet.cost(arch)["params"])


def test_keeps_the_n_cells_of_the_pool_with_the_most_parameters(supernet):
    space = supernet.space
    sampler = ProxyFilterSampler(space, seed=3, pool=4).attach_scorer(params(supernet))
    reference = UniformSampler(space, seed=4)  # the inner sampler's own stream: seed + 1
    for n in (5, 1, 3):
        pool = reference.sample(4 * n)
        keys = [space.key(a) for a in pool]
        first = [i for i, key in enumerate(keys) if key not in keys[:i]]  # distinct cells, first draws
        best = sorted(first, key=lambda i: (-supernet.cost(pool[i])["params"], i))[:n]
        kept = sampler.sample(n)
        assert kept == [pool[i] for i in sorted(best)]  # the brute-force best, in the order drawn
        assert min(params(supernet)(a) for a in kept) >= max(
            params(supernet)(pool[i]) for i in first if i not in best)


def test_pool_one_returns_exactly_the_inner_draws():
    space = SPACES["nb101"]()
    sampler = ProxyFilterSampler(space, seed=7, inner="evolution", inner_options={"population_size": 4},
                                 pool=1).attach_scorer(lambda arch: float(arch[0]))
    reference = EvolutionSampler(space, seed=8, population_size=4)
    for _ in range(3):
        archs = sampler.sample(3)
        assert archs == reference.sample(3)
        scores = [float(sum(a)) for a in archs]
        sampler.observe(archs, scores)  # the inner sampler learns as it would alone
        reference.observe(archs, scores)


def stubbed(drawn: list, scores: dict, pool: int) -> ProxyFilterSampler:
    """A filter whose inner sampler returns `drawn` and whose proxy reads `scores`."""
    sampler = ProxyFilterSampler(SPACES["shufflenet"](), pool=pool).attach_scorer(lambda arch: scores[arch])
    sampler.inner.sample = lambda k: list(drawn[:k])
    return sampler


def test_repeats_rank_after_every_distinct_cell_and_fill_up_only_when_needed():
    a, b, c = (0,) * 20, (1,) * 20, (2,) * 20
    scores = {a: 3.0, b: 2.0, c: 1.0}
    assert stubbed([a, a, a, b, b, c], scores, pool=3).sample(2) == [a, b]  # not a twice
    assert stubbed([c, a, a, b, a, a], scores, pool=2).sample(3) == [c, a, b]  # in the order drawn
    assert stubbed([b, a, a, a, b, a], scores, pool=3).sample(2) == [b, a]
    assert stubbed([a, a, a, a], scores, pool=2).sample(2) == [a, a]  # one distinct cell: repeats fill


def test_ties_keep_the_draw_order_and_non_finite_scores_rank_last():
    a, b, c, d = ((i,) * 20 for i in range(4))
    assert stubbed([c, b, a, d], dict.fromkeys((a, b, c, d), 1.0), pool=2).sample(2) == [c, b]
    scores = {a: math.nan, b: 0.0, c: math.inf, d: -1.0}  # as ZeroCostScorer has it: non-finite is last
    assert stubbed([a, b, c, d], scores, pool=2).sample(2) == [b, d]


@pytest.mark.parametrize("options, message", [
    ({"proxy": "accuracy"}, "unknown proxy 'accuracy'; valid: params, flops"),
    ({"pool": 0}, "pool and batch_size must be integers >= 1"),
    ({"pool": 2.5}, "pool and batch_size must be integers >= 1"),
    ({"batch_size": 0}, "pool and batch_size must be integers >= 1"),
    ({"inner": "proxy-filter"}, "inner must be another registered sampler except fair, got 'proxy-filter'"),
    ({"inner": "fair"}, "except fair"),
    ({"inner": "greedy"}, "got 'greedy'"),
])
def test_bad_options_are_one_line(options, message):
    with pytest.raises(UserError, match=message) as err:
        ProxyFilterSampler(SPACES["nb101"](), **options)
    assert "\n" not in str(err.value)


def test_sampling_before_a_scorer_is_attached_is_one_line():
    with pytest.raises(UserError, match="no proxy scorer attached") as err:
        ProxyFilterSampler(SPACES["nb101"]()).sample(1)
    assert "\n" not in str(err.value)


def test_state_round_trip_gives_the_same_proposals(supernet, reload):
    def build(seed):
        return ProxyFilterSampler(supernet.space, seed=seed, inner="evolution", pool=3,
                                  inner_options={"population_size": 4}).attach_scorer(params(supernet))

    def rounds(sampler, count):
        out = []
        for _ in range(count):
            archs = sampler.sample(4)
            sampler.observe(archs, [float(sum(a)) for a in archs])
            out.extend(archs)
        return out

    original = build(0)
    rounds(original, 2)
    state = reload(original.state_dict())
    assert state["inner"]["sampler"] == "evolution"
    expected = rounds(original, 3)
    resumed = build(5)  # the state decides, and the resumed filter's score cache starts empty
    resumed.load_state_dict(state)
    assert rounds(resumed, 3) == expected


def test_the_budget_reaches_the_inner_sampler(supernet):
    space = supernet.space
    rng = np.random.default_rng(0)
    limit = sorted(params(supernet)(space.sample_uniform(rng)) for _ in range(30))[10]  # about a third admitted
    budget = Budget({"params": limit}, supernet.cost)
    sampler = ProxyFilterSampler(space, seed=1, pool=3).attach_scorer(params(supernet)).constrain(budget)
    assert sampler.inner.budget is budget
    kept = sampler.sample(10)
    assert all(params(supernet)(a) <= limit for a in kept)
