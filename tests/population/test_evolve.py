"""Algorithms 1-3 of the evolving-autoencoders paper on a cheap stand-in fitness: offspring sizes of
the forced mutation/crossover, immutable parents, (mu + lambda) keeping the best, the evaluation cache,
and an exact resume (also from a generation that was interrupted half-way)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samplenas.errors import UserError
from samplenas.population.engine import Engine, ResultsLog
from samplenas.population.evolve import (
    RECORDS_FORMAT,
    Evaluator,
    SearchState,
    initial_population,
    random_samples,
    ranked,
    run_evolution,
    saved_keys,
    select,
    vary,
)
from samplenas.population.synthetic import layer_count_fitness
from samplenas.spaces.autoencoder import AutoencoderSpace


class FixedCoins:
    """A generator whose uniform draws are a constant (forces or forbids every mutation) while
    integer draws stay random."""

    def __init__(self, u: float, seed: int = 0):
        self.u, self.rng = u, np.random.default_rng(seed)

    def random(self):
        return self.u

    def integers(self, *args, **kwargs):
        return self.rng.integers(*args, **kwargs)


@pytest.fixture
def space():
    return AutoencoderSpace(max_layers=4, num_reductions=2)


def test_initial_population_is_minimal_single_layer_modules(space):
    population = initial_population(space, 6, np.random.default_rng(0))
    assert len(population) == 6
    assert all(len(space.layers(a)) == 1 for a in population)


@pytest.mark.parametrize(("u", "offspring"), [(0.0, 3), (0.99, 1)])
def test_forced_variation_gives_one_to_three_offspring_per_parent(space, u, offspring):
    parents = initial_population(space, 5, np.random.default_rng(1))
    result = vary(parents, space, FixedCoins(u))
    assert result.population[:5] == tuple(parents)  # parents first, untouched
    assert len(result.population) - 5 == offspring * 5  # u < 1/2: p and o mutated, plus the child
    assert result.children == 5 and result.mutated == (offspring - 1) * 5
    assert all(space.is_valid(a) for a in result.population)


def test_offspring_sizes_stay_between_one_and_three_times_the_parents(space):
    rng = np.random.default_rng(2)
    parents = [space.sample(rng) for _ in range(10)]
    frozen = [tuple(p) for p in parents]
    sizes = {len(vary(parents, space, rng).population) - 10 for _ in range(200)}
    assert min(sizes) >= 10 and max(sizes) <= 30 and len(sizes) > 5
    assert parents == frozen  # genotypes are immutable: variation always makes new tuples


def test_population_of_one_has_no_partner(space):
    with pytest.raises(UserError, match="at least 2"):
        vary([space.sample(np.random.default_rng(0))], space, np.random.default_rng(0))


def test_mu_plus_lambda_keeps_the_best_of_parents_and_offspring():
    fitness = {(1,): 5.0, (2,): 1.0, (3,): 4.0, (4,): float("nan"), (5,): 4.0}
    chosen = select([(1,), (2,), (3,), (4,), (5,)], fitness.__getitem__, 3)
    assert chosen == [(1,), (3,), (5,)]  # stable among equals; NaN counts as the worst
    assert select([(4,), (2,)], fitness.__getitem__, 1) == [(2,)]


def test_random_samples_are_distinct_and_bounded(space):
    samples = random_samples(space, 30, np.random.default_rng(3))
    assert len({space.key(a) for a in samples}) == 30
    with pytest.raises(UserError, match="exceeds"):
        random_samples(AutoencoderSpace(max_layers=1), 18, np.random.default_rng(0))


class CountingEngine(Engine):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.submitted: list[str] = []

    def submit(self, key, payload):
        self.submitted.append(key)
        return super().submit(key, payload)


def _search(space, tmp_path, generations, state=None, seed=7, log_name="evaluations.jsonl"):
    engine = CountingEngine(layer_count_fitness)
    log = ResultsLog(tmp_path / log_name)
    evaluator = Evaluator(engine, space, lambda arch: {"arch": list(arch)}, log)
    checkpoints: list[dict] = []
    final = run_evolution(space, evaluator, population=4, generations=generations, rng=np.random.default_rng(seed),
                          state=state, checkpoint=lambda s: checkpoints.append(s.to_json({"seed": seed})))
    return final, engine, log, checkpoints


def test_search_uses_the_cache_and_never_loses_its_best(ray_local, space, tmp_path):
    state, engine, log, checkpoints = _search(space, tmp_path, generations=5)
    assert len(engine.submitted) == len(set(engine.submitted)) == len(log) == len(state.records)
    bests = [h.best for h in state.history]
    assert bests == sorted(bests)  # (mu + lambda): the best never gets worse
    assert max(r["fitness"] for r in state.records.values()) == bests[-1]
    proposed = sum(h.proposed for h in state.history)
    hits = sum(h.cache_hits for h in state.history)
    assert hits > 0 and proposed >= 4 * 5
    assert sum(h.trained for h in state.history) == len(state.records)
    assert [c["generation"] for c in checkpoints] == [1, 2, 3, 4, 5]
    top = ranked(state.records, space, 3)
    assert len({space.key(a) for a in top}) == 3
    assert state.records[space.key(top[0])]["fitness"] == bests[-1]


def test_resume_from_a_checkpoint_and_a_half_finished_generation_is_exact(ray_local, space, tmp_path):
    full, _, full_log, _ = _search(space, tmp_path / "full", generations=4)
    # stop after generation 2, as a killed driver leaves it: the checkpoint of generation 2 ...
    _, _, _, checkpoints = _search(space, tmp_path / "cut", generations=2)
    saved = checkpoints[-1]
    # ... plus part of generation 3 already in the log (finished evaluations not yet checkpointed)
    partial = [r for r in full_log.records() if r["generation"] == 2][:2]
    log = ResultsLog(tmp_path / "cut" / "evaluations.jsonl")
    for record in partial:
        log.append(record)
    logged = {r["key"]: r for r in ResultsLog(tmp_path / "cut" / "evaluations.jsonl").records()}
    resumed, engine, log, _ = _search(space, tmp_path / "cut", generations=4,
                                      state=SearchState.from_json(saved, space, logged))
    assert resumed.population == full.population
    assert {k: r["fitness"] for k, r in resumed.records.items()} == {k: r["fitness"] for k, r in full.records.items()}
    assert [vars(h) | {"wall_s": 0} for h in resumed.history] == [vars(h) | {"wall_s": 0} for h in full.history]
    assert not set(engine.submitted) & {r["key"] for r in partial}  # finished work was not redone
    assert sorted(r["key"] for r in log.records()) == sorted(r["key"] for r in full_log.records())


def test_the_state_names_its_records_and_leaves_them_to_the_log(space):
    """state.json holds the cache's keys in order, never a copy of the records: its size does not grow
    with what a record holds."""
    population = initial_population(space, 4, np.random.default_rng(0))
    keys = [space.key(a) for a in population]

    def saved(metrics: dict) -> str:
        records = {k: {"key": k, "fitness": 0.5, "metrics": metrics, "arch_ints": list(a)}
                   for k, a in zip(keys, population)}
        return json.dumps(SearchState(1, population, {}, records).to_json({}))

    small, large = saved({}), saved({"images": "x" * 100_000, "val": {"loss": 0.25}})
    assert len(small) == len(large) and "metrics" not in small
    assert json.loads(small)["keys"] == keys


def test_a_state_of_the_older_format_takes_its_keys_from_its_records(space):
    population = initial_population(space, 2, np.random.default_rng(0))
    records = {space.key(a): {"key": space.key(a), "fitness": 1.0, "metrics": {}, "arch_ints": list(a)}
               for a in reversed(population)}
    old = {**SearchState(1, population, {}, {}).to_json({}), "format": RECORDS_FORMAT, "records": records}
    del old["keys"]
    assert saved_keys(old) == list(records)
    logged = {k: {**r, "fitness": 2.0} for k, r in records.items()}  # the log's record is the one kept
    resumed = SearchState.from_json(old, space, logged).records
    assert list(resumed) == list(records) and resumed == logged
