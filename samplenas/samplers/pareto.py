"""The accuracy–cost Pareto front: non-dominated sorting, 2-D hypervolume and NSGA-II over a search space.

Objectives are minimised (pass 1 - accuracy, or -score, and a cost). `NSGA2` is Deb et al.'s
NSGA-II (2002) on the space's own variation: parents by binary tournament on (front rank, crowding
distance), children by the space's crossover and mutation, never a repeat (by `space.key`) and,
under a `Budget`, never above it; survivors by non-dominated sorting with crowding distance as the
tie-break. It is ask/tell, so the caller decides what a query costs (a table lookup, a supernet
score) and the search state is the evaluated set alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from samplenas.errors import UserError
from samplenas.samplers.budget import Budget
from samplenas.spaces.base import Arch, SearchSpace


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Indices of the points [n, 2] no other point dominates (minimisation), sorted by the first objective;
    of equal points the first is kept."""
    points = np.asarray(points, dtype=np.float64)
    order = np.lexsort((points[:, 1], points[:, 0]))
    kept, best = [], np.inf
    for i in order:
        if points[i, 1] < best:
            kept.append(int(i))
            best = points[i, 1]
    return np.asarray(kept, dtype=np.int64)


def front_ranks(points: np.ndarray) -> np.ndarray:
    """Front number of every point (0 = non-dominated), by peeling fronts off."""
    points = np.asarray(points, dtype=np.float64)
    ranks = np.full(len(points), -1)
    remaining = np.arange(len(points))
    rank = 0
    while len(remaining):
        front = remaining[non_dominated(points[remaining])]
        on_front = np.array([np.any(np.all(points[front] == points[i], axis=1)) for i in remaining])
        ranks[remaining[on_front]] = rank  # equal points share a front
        remaining = remaining[~on_front]
        rank += 1
    return ranks


def crowding(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of points of one front (boundary points: infinite)."""
    points = np.asarray(points, dtype=np.float64)
    distance = np.zeros(len(points))
    for m in range(points.shape[1]):
        order = np.argsort(points[:, m], kind="stable")
        span = points[order[-1], m] - points[order[0], m]
        distance[order[[0, -1]]] = np.inf
        if span > 0 and len(points) > 2:
            distance[order[1:-1]] += (points[order[2:], m] - points[order[:-2], m]) / span
    return distance


def hypervolume(points: np.ndarray, reference: Sequence[float]) -> float:
    """Area dominated by the points [n, 2] and bounded by `reference` (minimisation); points beyond it count 0."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    ref = np.asarray(reference, dtype=np.float64)
    inside = points[np.all(points < ref, axis=1)]
    if not len(inside):
        return 0.0
    front = inside[non_dominated(inside)]
    widths = np.diff(np.append(front[:, 0], ref[0]))
    return float(np.sum(widths * (ref[1] - front[:, 1])))


class NSGA2:
    """Ask/tell NSGA-II: `ask(n)` proposes unseen architectures, `tell(archs, objectives)` records them."""

    def __init__(self, space: SearchSpace, seed: int = 0, population_size: int = 20, crossover_prob: float = 0.5,
                 budget: Budget | None = None, max_tries: int = 200):
        if population_size < 2:
            raise UserError(f"nsga2: population_size must be at least 2, got {population_size}")
        if not 0.0 <= crossover_prob <= 1.0:
            raise UserError(f"nsga2: crossover_prob must be in [0, 1], got {crossover_prob}")
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.population_size = int(population_size)
        self.crossover_prob = float(crossover_prob)
        self.budget = budget if budget else None
        self.max_tries = int(max_tries)
        self.archs: list[Arch] = []  # every evaluated architecture, in order
        self.objectives: list[tuple[float, float]] = []
        self.keys: set[str] = set()  # evaluated or proposed
        self.population: list[int] = []  # indices into archs
        self._rank = np.zeros(0)
        self._crowd = np.zeros(0)

    # --- proposing -----------------------------------------------------------------------------
    def ask(self, n: int) -> list[Arch]:
        """`n` unseen architectures: uniform until a population exists, then children of it."""
        draw = self._child if self.population else (lambda: self.space.sample_uniform(self.rng))
        return [self._unseen(draw) for _ in range(int(n))]

    def _admitted(self, arch: Arch) -> bool:
        return self.space.key(arch) not in self.keys and (self.budget is None or self.budget.admits(arch))

    def _unseen(self, draw) -> Arch:
        for source in (draw, lambda: self.space.sample_uniform(self.rng)):
            for _ in range(self.max_tries):
                arch = source()
                if self._admitted(arch):
                    self.keys.add(self.space.key(arch))
                    return arch
        within = f" within the budget ({self.budget.describe()})" if self.budget else ""
        raise UserError(f"nsga2: no unseen architecture{within} in {2 * self.max_tries} draws")

    def _tournament(self) -> Arch:
        a, b = self.rng.choice(len(self.population), size=2, replace=len(self.population) < 2)
        better = a if (self._rank[a], -self._crowd[a]) <= (self._rank[b], -self._crowd[b]) else b
        return self.archs[self.population[int(better)]]

    def _child(self) -> Arch:
        parent = self._tournament()
        if self.rng.random() < self.crossover_prob:
            parent = self.space.crossover(parent, self._tournament(), self.rng)
        return self.space.mutate(parent, self.rng)

    # --- feedback ------------------------------------------------------------------------------
    def tell(self, archs: Sequence[Arch], objectives: Sequence[Sequence[float]]) -> None:
        """Record evaluated architectures (objectives minimised) and select the next population."""
        if len(archs) != len(objectives):
            raise UserError(f"nsga2: {len(archs)} architectures but {len(objectives)} objective pairs")
        for arch, values in zip(archs, objectives):
            values = tuple(float(v) for v in values)
            if len(values) != 2 or not np.all(np.isfinite(values)):
                raise UserError(f"nsga2: objectives must be two finite numbers, got {values}")
            self.keys.add(self.space.key(arch))
            self.archs.append(tuple(arch))
            self.objectives.append(values)
        candidates = sorted(set(self.population) | set(range(len(self.archs) - len(archs), len(self.archs))))
        self.population = self._survivors(candidates)
        points = np.asarray([self.objectives[i] for i in self.population])
        self._rank = front_ranks(points)
        self._crowd = np.zeros(len(points))
        for rank in np.unique(self._rank):
            members = np.flatnonzero(self._rank == rank)
            self._crowd[members] = crowding(points[members])

    def _survivors(self, candidates: list[int]) -> list[int]:
        points = np.asarray([self.objectives[i] for i in candidates])
        ranks = front_ranks(points)
        chosen: list[int] = []
        for rank in np.unique(ranks):
            members = np.flatnonzero(ranks == rank)
            if len(chosen) + len(members) <= self.population_size:
                chosen.extend(int(m) for m in members)
                continue
            order = np.argsort(-crowding(points[members]), kind="stable")
            chosen.extend(int(members[i]) for i in order[: self.population_size - len(chosen)])
            break
        return [candidates[i] for i in chosen]

    def front(self) -> list[int]:
        """Indices (into `archs`) of the non-dominated evaluated architectures, cheapest first."""
        if not self.archs:
            return []
        return [int(i) for i in non_dominated(np.asarray(self.objectives))]
