"""Evolutionary architecture search with full training per candidate (Hajewski & Oliveira,
"Distributed evolution of deep autoencoders", shared/papers/evolving-autoencoders-distributed.txt).

Algorithm 1 (the search) and 2 (one generation's variation) are implemented here for any search space;
Algorithm 3 (mutate a genotype, cross two over) is the space's own `mutate` / `crossover`. As in the
paper:

* genotypes are immutable (architectures are tuples; variation always returns new ones);
* each parent p picks a random partner o from the others; each of them is mutated with probability
  1/2 and a crossover child of the (possibly mutated) pair is always made; the mutated p and o (only
  if mutated) and the child join the parents -- up to 3x as many offspring as parents;
* an already evaluated genotype is never evaluated again (line 6), and a proposed genotype whose key
  (`space.key`) is in the evaluation cache takes its fitness from there (line 8);
* (mu + lambda) selection: parents and offspring sorted by fitness, the best mu kept.

The driver streams every finished evaluation to `evaluations.jsonl` (the one copy of each record) and
checkpoints after every generation (population, the cache's keys, RNG state, statistics); `resume`
rebuilds the cache from the log by those keys, continues a killed driver and reuses the evaluations the
log holds from the generation it was in, so nothing is trained twice and, since an evaluation is
deterministic given its seed, the search reaches the same population.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from samplenas.errors import UserError
from samplenas.population.driver import stream
from samplenas.samplers.budget import Budget
from samplenas.spaces.autoencoder import AutoencoderSpace
from samplenas.spaces.base import Arch, SearchSpace

STATE = "state.json"
EVALUATIONS = "evaluations.jsonl"
STATE_FORMAT = "samplenas-evolve-2"  # the cache as its keys; the records are in EVALUATIONS
RECORDS_FORMAT = "samplenas-evolve-1"  # older: the cache's records themselves, still read on resume


# --- Algorithms 1 and 2 on their own (pure: space + rng in, new genotypes out) ---------------------
def within(budget: Budget | None, draw: Callable[[], Arch], what: str) -> Arch:
    """`draw()`, redrawn until `budget` admits it (no budget: one draw, the random stream unchanged)."""
    return draw() if budget is None else budget.draw(draw, what)


def initial_population(space: SearchSpace, size: int, rng: np.random.Generator,
                       budget: Budget | None = None) -> list[Arch]:
    """`size` minimal genotypes: "starting with a minimal layer module (e.g., a single convolutional
    layer)" for the autoencoder space (one layer drawn by the paper's random-layer rule), a sample of
    the space's default rule for other spaces; within `budget`."""
    if isinstance(space, AutoencoderSpace):
        draw = lambda: space.validate(space.sample(rng)[:1] + (0,) * (space.max_layers - 1))  # noqa: E731
    else:
        draw = lambda: space.sample(rng)  # noqa: E731
    return [within(budget, draw, "the initial population") for _ in range(size)]


@dataclass(frozen=True)
class Offspring:
    """The result of Algorithm 2: `population` = parents followed by the offspring."""

    population: tuple[Arch, ...]
    parents: int
    mutated: int  # offspring that are mutated parents/partners
    children: int  # crossover children


def vary(parents: Sequence[Arch], space: SearchSpace, rng: np.random.Generator,
         budget: Budget | None = None) -> Offspring:
    """Algorithm 2 (Mutate(P)): P' = P plus, for each p in P with a random partner o from P \\ {p},
    mutate(p) and mutate(o) each with probability 1/2 (added only if mutated) and crossover(p, o)
    of the possibly mutated pair (always). Parents are never modified. Under a budget a mutation or
    crossover above it is redrawn until one is admitted."""
    if len(parents) < 2:
        raise UserError(f"evolution needs a population of at least 2 (a partner for each parent), got {len(parents)}")
    grown: list[Arch] = list(parents)
    mutated = 0
    for i, p in enumerate(parents):
        j = int(rng.integers(len(parents) - 1))
        o = parents[j + 1 if j >= i else j]  # uniform over the others
        u1, u2 = rng.random(), rng.random()
        if u1 < 0.5:
            p = within(budget, lambda p=p: space.mutate(p, rng), "mutations")
            grown.append(p)
            mutated += 1
        if u2 < 0.5:
            o = within(budget, lambda o=o: space.mutate(o, rng), "mutations")
            grown.append(o)
            mutated += 1
        grown.append(within(budget, lambda p=p, o=o: space.crossover(p, o, rng), "crossovers"))
    return Offspring(tuple(grown), len(parents), mutated, len(parents))


def fitness_lookup(records: dict[str, dict], space: SearchSpace) -> Callable[[Arch], float]:
    """Fitness of a genotype from its evaluation record."""
    return lambda arch: records[space.key(arch)]["fitness"]


def select(candidates: Sequence[Arch], fitness: Callable[[Arch], float], size: int) -> list[Arch]:
    """(mu + lambda) selection: the `size` fittest of parents and offspring (a stable sort, so ties keep
    their order and the run is reproducible). Non-finite fitness counts as the worst."""

    def score(arch: Arch) -> float:
        value = fitness(arch)
        return value if value is not None and math.isfinite(value) else -math.inf

    return sorted(candidates, key=score, reverse=True)[:size]


# --- the driver ---------------------------------------------------------------------------------------
@dataclass
class GenerationStats:
    generation: int
    best: float
    mean: float
    proposed: int  # offspring proposed by Algorithm 2
    cache_hits: int  # of those, answered without training (seen before, or twice in this generation)
    trained: int  # evaluations run for this generation
    wall_s: float

    @property
    def evals_per_s(self) -> float:
        return self.trained / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class SearchState:
    """Everything the driver needs to continue exactly (saved as strict JSON after each generation).
    The records are saved as their keys only: each is already a line of the results log, and a
    state that copied them grew with every record's metrics."""

    generation: int
    population: list[Arch]
    rng_state: dict
    records: dict[str, dict]  # the evaluation cache: space.key -> record
    history: list[GenerationStats] = field(default_factory=list)

    def to_json(self, config: dict) -> dict:
        return {"format": STATE_FORMAT, "config": config, "generation": self.generation,
                "population": [list(a) for a in self.population], "rng": self.rng_state, "keys": list(self.records),
                "history": [{**vars(h), "evals_per_s": h.evals_per_s} for h in self.history]}

    @classmethod
    def from_json(cls, data: dict, space: SearchSpace, logged: dict[str, dict]) -> SearchState:
        """The saved state with its cache rebuilt from `logged` (the results log, key -> record). Only
        the checkpoint's keys: evaluations logged after it are the interrupted generation's, which
        `Evaluator` recovers as that generation runs again."""
        history = [GenerationStats(**{k: v for k, v in h.items() if k != "evals_per_s"}) for h in data["history"]]
        return cls(int(data["generation"]), [space.validate(a) for a in data["population"]], data["rng"],
                   {key: logged[key] for key in saved_keys(data)}, history)


def saved_keys(data: dict) -> list[str]:
    """The cache's keys of a saved state, in order (a RECORDS_FORMAT state holds the records themselves)."""
    return list(data["records"]) if data.get("format") == RECORDS_FORMAT else data["keys"]


class Evaluator:
    """The engine plus the bookkeeping around it: each key trained at most once, every result logged
    as it arrives, and the evaluations of an interrupted generation (in the log, not yet in a
    checkpoint) reused on resume."""

    def __init__(self, engine, space: SearchSpace, make_payload: Callable[[Arch], Any], log,
                 monitor=None, prefix: str = ""):
        self.engine, self.space, self.make_payload, self.log = engine, space, make_payload, log
        self.monitor = monitor  # a `SearchMonitor`, or None
        self.prefix = prefix  # separates kinds of evaluation of the same genotype (search / final) in the log

    def evaluate(self, archs: Sequence[Arch], known: dict[str, dict], extra: dict | None = None) -> dict[str, dict]:
        """Records for every key of `archs` not in `known`, running what the log does not hold."""
        recovered = {r["key"]: r for r in self.log.records()}
        out: dict[str, dict] = {}
        by_key: dict[str, Arch] = {}
        for arch in archs:
            key = self.space.key(arch)
            if key in known or key in out or key in by_key:
                continue
            if self.prefix + key in recovered:
                out[key] = recovered[self.prefix + key]
                continue
            by_key[key] = arch

        def to_record(result) -> dict:
            arch = by_key[result.key[len(self.prefix):]]
            return {**result.to_record(), "arch": self.space.to_str(arch), "arch_ints": list(arch), **(extra or {})}

        jobs = ((self.prefix + key, self.make_payload(arch)) for key, arch in by_key.items())
        for result, record in stream(self.engine, jobs, self.log, to_record, self.monitor):
            out[result.key[len(self.prefix):]] = record
        return out


def run_evolution(space: SearchSpace, evaluator: Evaluator, *, population: int, generations: int,
                  rng: np.random.Generator, state: SearchState | None = None,
                  checkpoint: Callable[[SearchState], None] | None = None,
                  on_generation: Callable[[GenerationStats, SearchState], None] | None = None,
                  on_start: Callable[[int], None] | None = None,
                  budget: Budget | None = None) -> SearchState:
    """Algorithm 1. `state` continues a checkpointed search (its RNG state is loaded into `rng`); every
    genotype stays within `budget`."""
    if population < 2:
        raise UserError(f"--population must be at least 2, got {population}")
    if state is None:
        state = SearchState(0, initial_population(space, population, rng, budget), dict(rng.bit_generator.state), {})
    else:
        rng.bit_generator.state = state.rng_state
    while state.generation < generations:
        started = time.perf_counter()
        offspring = vary(state.population, space, rng, budget)
        keys = [space.key(a) for a in offspring.population]
        # line 6: parents carry their fitness; only the initial population has none yet
        todo = [a for a, k in zip(offspring.population[:offspring.parents], keys) if k not in state.records]
        seen = set(state.records) | set(keys[:offspring.parents])
        hits = 0
        for arch, key in zip(offspring.population[offspring.parents:], keys[offspring.parents:]):
            if key in seen:
                hits += 1  # line 8: the cache (or an identical genotype earlier in this generation) answers
            else:
                seen.add(key)
                todo.append(arch)
        if on_start is not None:  # the generation's evaluations are about to be submitted
            on_start(state.generation)
        new = evaluator.evaluate(todo, state.records, {"generation": state.generation})
        state.records.update(new)
        chosen = select(offspring.population, fitness_lookup(state.records, space), population)
        fitness = [state.records[space.key(a)]["fitness"] for a in chosen]
        finite = [f for f in fitness if f is not None and math.isfinite(f)]
        stats = GenerationStats(state.generation, max(finite, default=0.0), float(np.mean(finite)) if finite else 0.0,
                                len(offspring.population) - offspring.parents, hits, len(new),
                                time.perf_counter() - started)
        state = SearchState(state.generation + 1, chosen, dict(rng.bit_generator.state), state.records,
                            [*state.history, stats])
        if checkpoint is not None:
            checkpoint(state)
        if on_generation is not None:
            on_generation(stats, state)
    return state


def random_samples(space: SearchSpace, count: int, rng: np.random.Generator,
                   budget: Budget | None = None) -> list[Arch]:
    """The paper's random-search baseline: `count` distinct architectures from the space's default
    rule (autoencoder: layer count uniform in 1..L, then random layers), within `budget`."""
    size, _ = space.size()
    if count > size:
        raise UserError(f"--samples {count} exceeds the {size} architectures of the space")
    seen, out = set(), []
    while len(out) < count:
        arch = within(budget, lambda: space.sample(rng), "random samples")
        if space.key(arch) not in seen:
            seen.add(space.key(arch))
            out.append(arch)
    return out


def ranked(records: dict[str, dict], space: SearchSpace, top: int) -> list[Arch]:
    """The `top` fittest distinct genotypes the search evaluated (best first; ties by key, so the
    order is reproducible). "Found architectures" as in the paper's tables: the population itself
    may hold copies of one genotype after (mu + lambda) selection."""
    def order(key: str) -> tuple[float, str]:
        value = records[key]["fitness"]
        return (-(value if value is not None and math.isfinite(value) else -math.inf), key)

    return [space.validate(records[key]["arch_ints"]) for key in sorted(records, key=order)[:top]]
