"""Budgets: hard limits on an architecture's cost that a sampler proposes within.

A user who will deploy under a budget (parameters, multiply-adds, latency on a device) gains nothing
from architectures above it: a supernet trained on them spends steps on paths it will never serve,
and a search spends queries on them. So the limit sits inside sampling. A `Budget` is a set of
limits plus one cost function (architecture -> {"params": ..., "macs": ..., "latency_ms": ...});
where the costs come from (a built network, a NAS-Bench-101 table, a latency predictor) is the
caller's business. Every sampler asks `Sampler.draw_admitted` for its draws, which redraws by
rejection: the law of the admitted draws is the sampler's own law conditioned on the budget (for
uniform sampling: uniform over the admitted architectures).

A budget that admits nothing is reported in one line after `tries` draws in a row were all above
it, with the cheapest cost seen, so that the user knows how far off the limit is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from samplenas.errors import UserError
from samplenas.spaces.base import Arch, SearchSpace

# cost name -> (the flag that limits it, how its values print)
LIMITS = {
    "params": ("--max-params", "{:,.0f}"),
    "macs": ("--max-macs", "{:,.0f}"),
    "latency_ms": ("--max-latency-ms", "{:.3g} ms"),
}
DEFAULT_TRIES = 500
PROBE_DRAWS = 50  # uniform draws that must hold one admitted architecture before any work starts
CostFunction = Callable[[Arch], Mapping[str, float]]


class BudgetError(UserError):
    """No architecture within the budget could be drawn."""


class Budget:
    """Limits {cost name: largest allowed value} on the costs `cost(arch)` returns.

    `admits` caches the costs of the architectures it has seen (costing can mean building a network).
    """

    def __init__(self, limits: Mapping[str, float | None], cost: CostFunction, tries: int = DEFAULT_TRIES):
        self.limits = {name: float(value) for name, value in limits.items() if value is not None}
        unknown = sorted(set(self.limits) - set(LIMITS))
        if unknown:
            raise UserError(f"unknown budget limit {unknown[0]!r}; valid: {', '.join(LIMITS)}")
        for name, value in self.limits.items():
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"{LIMITS[name][0]} must be a positive number, got {value:g}")
        if int(tries) < 1:
            raise UserError(f"budget: tries must be at least 1, got {tries}")
        self.cost = cost
        self.tries = int(tries)
        self._costs: dict[Arch, dict[str, float]] = {}

    def __bool__(self) -> bool:
        """False when it limits nothing (no limit was given)."""
        return bool(self.limits)

    def costs(self, arch: Sequence[int]) -> dict[str, float]:
        arch = tuple(int(c) for c in arch)
        if arch not in self._costs:
            values = self.cost(arch)
            missing = [name for name in self.limits if name not in values]
            if missing:
                raise UserError(f"budget: the cost function gives no {missing[0]!r} (it gives {', '.join(values)})")
            self._costs[arch] = {name: float(values[name]) for name in self.limits}
        return self._costs[arch]

    def admits(self, arch: Sequence[int]) -> bool:
        costs = self.costs(arch)
        return all(costs[name] <= limit for name, limit in self.limits.items())

    def describe(self) -> str:
        return ", ".join(f"{name} <= {LIMITS[name][1].format(limit)}" for name, limit in self.limits.items())

    def draw(self, draw: Callable[[], Arch], source: str) -> Arch:
        """The first of up to `tries` draws that the budget admits; BudgetError if none is."""
        cheapest: dict[str, float] = {}
        for _ in range(self.tries):
            arch = draw()
            if self.admits(arch):
                return arch
            for name, value in self.costs(arch).items():
                cheapest[name] = min(value, cheapest.get(name, math.inf))
        seen = ", ".join(f"{name} {LIMITS[name][1].format(value)}" for name, value in cheapest.items())
        flags = " or ".join(LIMITS[name][0] for name in self.limits)
        raise BudgetError(f"the budget ({self.describe()}) admitted none of {self.tries} draws from {source} "
                          f"(lowest costs seen: {seen}); raise {flags}")

    def probe(self, space: SearchSpace, draws: int = PROBE_DRAWS) -> Budget:
        """BudgetError (one line) unless one of `draws` uniform draws is admitted: a budget that admits
        nothing is reported before a run starts, not after its first sampler gives up. Returns self."""
        rng = np.random.default_rng(0)
        kept, self.tries = self.tries, draws
        try:
            self.draw(lambda: space.sample_uniform(rng), f"the {space.name} space (uniform)")
        finally:
            self.tries = kept
        return self


def merge_costs(*functions: CostFunction) -> CostFunction:
    """One cost function giving every cost the given ones give (later ones win on a shared name)."""
    def cost(arch: Arch) -> dict[str, float]:
        merged: dict[str, float] = {}
        for function in functions:
            merged.update(function(arch))
        return merged

    return cost
