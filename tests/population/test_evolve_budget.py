"""`evolve` under a budget: initial population, mutations, crossovers and random samples stay within it."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.population.evolve import initial_population, random_samples, vary
from samplenas.samplers.budget import Budget
from samplenas.spaces import SPACES


def layer_sum(arch) -> dict:
    return {"params": float(sum(arch))}


@pytest.mark.parametrize("space_name", ["autoencoder", "nasnet", "nb101"])
def test_every_genotype_stays_within_the_budget(space_name):
    space = SPACES[space_name]()
    rng = np.random.default_rng(0)
    limit = float(np.median([sum(space.sample(rng)) for _ in range(40)]))
    budget = Budget({"params": limit}, layer_sum)
    population = initial_population(space, 6, np.random.default_rng(1), budget)
    offspring = vary(population, space, np.random.default_rng(2), budget)
    samples = random_samples(space, 10, np.random.default_rng(3), budget)
    for arch in [*population, *offspring.population, *samples]:
        assert sum(arch) <= limit


def test_no_budget_leaves_the_stream_unchanged():
    space = SPACES["nasnet"]()
    population = initial_population(space, 4, np.random.default_rng(1))
    assert population == initial_population(space, 4, np.random.default_rng(1), None)
    assert vary(population, space, np.random.default_rng(2)) == vary(population, space, np.random.default_rng(2), None)


def test_impossible_budget_is_refused_before_any_file(tmp_path, refused, population_argv):
    err = refused([*population_argv["evolve"], "--out", tmp_path / "run", "--max-params", "1"], tmp_path,
                  "admitted none of 50 draws")
    assert "raise --max-params" in err
