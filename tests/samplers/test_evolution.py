"""Evolution: no repeated proposals, ageing vs truncation survivors, seeded initial populations."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.errors import UserError
from samplenas.samplers.evolution import EvolutionSampler
from samplenas.samplers.uniform import UniformSampler
from samplenas.spaces import SPACES


@pytest.fixture
def nb101():
    return SPACES["nb101"]()


@pytest.mark.parametrize("variant", ["regularized", "mu_plus_lambda"])
def test_never_proposes_an_equivalent_architecture_twice(variant, space, score, run_rounds):
    sampler = EvolutionSampler(space, seed=0, variant=variant, population_size=6, tournament_size=3)
    keys = [space.key(a) for a in run_rounds(sampler, score, rounds=12, per_round=5)]
    assert len(keys) == len(set(keys))


def test_regularized_population_ages_out_the_oldest(nb101, score, run_rounds):
    sampler = EvolutionSampler(nb101, seed=0, population_size=4, tournament_size=2)
    run_rounds(sampler, score, rounds=3, per_round=4)
    assert [a for a, _ in sampler.population] == [a for a, _ in sampler.history[-4:]]


def test_mu_plus_lambda_keeps_the_best(nb101, score, run_rounds):
    sampler = EvolutionSampler(nb101, seed=0, variant="mu_plus_lambda", population_size=4, tournament_size=2)
    run_rounds(sampler, score, rounds=3, per_round=4)
    best = sorted((s for _, s in sampler.history), reverse=True)[:4]
    assert [s for _, s in sampler.population] == best


def test_initial_population_comes_from_the_given_list(nb101, score):
    seeds = UniformSampler(nb101, seed=7).sample(5)
    sampler = EvolutionSampler(nb101, seed=0, population_size=5, init=seeds)
    assert sampler.sample(5) == seeds


def test_initial_population_comes_from_the_given_sampler(nb101):
    inner = UniformSampler(nb101, seed=7)
    expected = UniformSampler(nb101, seed=7).sample(5)
    sampler = EvolutionSampler(nb101, seed=0, population_size=5, init=inner)
    assert sampler.sample(5) == expected


def test_rescoring_a_known_architecture_is_ignored(nb101):
    sampler = EvolutionSampler(nb101, seed=0, population_size=4)
    archs = sampler.sample(2)
    sampler.observe(archs, [1.0, 2.0])
    sampler.observe(archs[:1], [50.0])
    assert sampler.best() == (archs[1], 2.0)
    assert len(sampler.history) == 2


@pytest.mark.parametrize("variant", ["regularized", "mu_plus_lambda"])
def test_evolution_climbs_the_synthetic_objective(variant, score, run_rounds):
    """Late proposals score far above uniform draws (mean 5 of 20 positions on ShuffleNet)."""
    space = SPACES["shufflenet"]()
    sampler = EvolutionSampler(space, seed=0, variant=variant, population_size=20, tournament_size=5)
    late = run_rounds(sampler, score, rounds=30, per_round=5)[-50:]
    uniform = UniformSampler(space, seed=0).sample(150)
    assert np.mean([score(a) for a in late]) > np.mean([score(a) for a in uniform]) + 3
    assert sampler.best()[1] > max(score(a) for a in uniform)


def test_bad_options_are_clear_errors(nb101):
    with pytest.raises(UserError, match="unknown variant"):
        EvolutionSampler(nb101, variant="annealing")
    with pytest.raises(UserError, match="crossover_prob"):
        EvolutionSampler(nb101, crossover_prob=1.5)


def test_initial_population_from_a_fair_sampler_takes_what_it_needs():
    from samplenas.samplers.fair import FairSampler
    from samplenas.spaces import SPACES

    space = SPACES["shufflenet"]()
    sampler = EvolutionSampler(space, seed=0, population_size=6, init=FairSampler(space, seed=1))
    first = sampler.sample(6)  # a fair group holds 4 architectures, so this spans two groups
    assert len(first) == 6 and len({space.key(a) for a in first}) == 6
