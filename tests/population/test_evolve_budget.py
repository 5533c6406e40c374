"""`evolve` under a budget: initial population, mutations, crossovers and random samples stay within it,
also end to end with a latency table measured by `samplenas latency`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samplenas.cli import main
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


DIGITS_AUTOENCODER = {"in_channels": 1, "image_size": 8, "max_layers": 3, "num_reductions": 1}  # evolve's TINY run


def test_evolve_under_a_measured_latency_table_trains_only_candidates_within_it(
        ray_local, tmp_path, refused, population_argv, measure_latency_table):
    """`evolve` with --max-latency-ms and a table made by `samplenas latency`: every candidate trained
    (initial population, children) is predicted within the limit; a table of another size is refused."""
    table, model = measure_latency_table("autoencoder", DIGITS_AUTOENCODER, tmp_path / "table.json")
    rng = np.random.default_rng(0)
    limit = float(np.quantile([model.predict(model.space.sample(rng)) for _ in range(40)], 0.25))
    budget = ["--max-latency-ms", str(limit), "--latency-table", str(table)]
    out = tmp_path / "run"
    assert main([*population_argv["evolve"], "--out", str(out), *budget]) == 0
    trained = [json.loads(line)["arch_ints"] for line in (out / "evaluations.jsonl").read_text().splitlines()]
    assert len(trained) >= 3 and all(model.predict(tuple(arch)) <= limit for arch in trained)
    assert json.loads((out / "state.json").read_text())["config"]["budget"] == {"latency_ms": limit}
    wider = json.loads(table.read_text())
    wider["network"]["max_layers"] = 4
    other = tmp_path / "wider.json"
    other.write_text(json.dumps(wider))
    refused([*population_argv["evolve"], "--out", tmp_path / "wide", *budget[:-1], other], tmp_path,
            "was measured for max_layers=4, not 3")
