"""Every sampler x every space proposes only architectures within a budget; an impossible one is one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.errors import UserError
from samplenas.samplers.budget import Budget, BudgetError, merge_costs


def choice_sum(arch) -> dict:
    """A synthetic cost: the sum of the choices (cheap, and low for the first choice of every position)."""
    return {"params": float(sum(arch))}


def median_budget(space) -> Budget:
    """A limit that about half the uniform draws of the space meet."""
    rng = np.random.default_rng(123)
    limit = float(np.median([sum(space.sample_uniform(rng)) for _ in range(60)]))
    return Budget({"params": limit}, choice_sum)


def test_no_proposal_breaks_the_budget(sampler_name, space, make_sampler, score, run_rounds):
    budget = median_budget(space)
    sampler = make_sampler(sampler_name, space, seed=1).constrain(budget)
    proposed = run_rounds(sampler, score, rounds=3)
    assert proposed
    over = [a for a in proposed if sum(a) > budget.limits["params"]]
    assert not over, f"{sampler_name} proposed {len(over)} of {len(proposed)} above the budget"
    assert all(space.validate(a) == a for a in proposed)


def test_gradient_draws_stay_within_the_budget(space, make_sampler):
    budget = median_budget(space)
    for name in ("gumbel", "multinomial"):
        sampler = make_sampler(name, space, seed=2).constrain(budget)
        for _ in range(10):
            arch, _ = sampler.sample_with_gates()
            assert sum(arch) <= budget.limits["params"]


def test_a_budget_changes_nothing_when_absent(sampler_name, space, make_sampler, score, run_rounds):
    plain = run_rounds(make_sampler(sampler_name, space, seed=4), score, rounds=2)
    empty = run_rounds(make_sampler(sampler_name, space, seed=4).constrain(Budget({}, choice_sum)), score, rounds=2)
    assert plain == empty


def test_impossible_budget_is_one_clear_error(sampler_name, space, make_sampler):
    sampler = make_sampler(sampler_name, space).constrain(Budget({"params": 1e-9}, choice_sum, tries=20))
    with pytest.raises(UserError, match=r"budget \(params <= 0\) admitted none|no unseen architecture within") as err:
        sampler.sample(2)
    assert "\n" not in str(err.value)


def test_uniform_under_a_budget_is_uniform_over_the_admitted():
    from samplenas.samplers import SAMPLERS
    from samplenas.spaces import SPACES

    space = SPACES["shufflenet"]()  # every encoding valid: the admitted set is easy to count per position
    budget = Budget({"params": 25.0}, choice_sum)
    draws = SAMPLERS["uniform"](space, seed=0).constrain(budget).sample(3000)
    assert max(sum(a) for a in draws) <= 25
    # position 0 under the limit: the law of choice c is proportional to the admitted encodings with it
    first = np.bincount([a[0] for a in draws], minlength=4) / len(draws)
    assert first[0] > first[1] > first[2] > first[3] > 0


def test_costs_are_cached_and_limits_checked():
    calls = []

    def cost(arch):
        calls.append(arch)
        return {"params": 5.0, "macs": 7.0}

    budget = Budget({"params": 5, "macs": None}, cost)
    assert budget.admits((1, 2)) and budget.admits([1, 2]) and len(calls) == 1
    assert budget.describe() == "params <= 5"
    assert not Budget({}, cost)
    with pytest.raises(UserError, match="--max-latency-ms must be a positive number"):
        Budget({"latency_ms": 0}, cost)
    with pytest.raises(UserError, match="gives no 'latency_ms'"):
        Budget({"latency_ms": 3}, cost).admits((0,))
    merged = merge_costs(cost, lambda arch: {"latency_ms": 2.0})
    assert Budget({"latency_ms": 2.5, "macs": 7}, merged).admits((0,))


def test_budget_error_names_the_lowest_cost_seen():
    budget = Budget({"macs": 3}, lambda arch: {"macs": 4.0 + arch[0]}, tries=5)
    draws = iter([(2,), (0,), (1,), (3,), (5,)])
    with pytest.raises(BudgetError, match=r"admitted none of 5 draws from test \(lowest costs seen: macs 4\); "
                                          r"raise --max-macs"):
        budget.draw(lambda: next(draws), "test")
