"""The accuracy–cost trade-off on a NAS-Bench-101 table: true front, searched fronts, hypervolume.

The table holds every cell's accuracy and cost, so the true Pareto front of (cost, 1 - accuracy) is
computed exactly from all its rows. Costs: `macs` is the table's FLOPs column (`flops_thop`, every
cell), `params` its trainable-parameter count, known for some cells only (30,001 of 423,624 in the
shared table): a params study runs over the cells whose count is known (a budget at the largest
known count, so unknown cells are never proposed) and its true front is that sub-table's.

A search's quality after Q queries is the hypervolume of the non-dominated set of its first Q
queried cells as a fraction of the true front's, in the plane (log10 cost, 1 - accuracy) (costs
span two orders of magnitude; on a linear axis the cheap end of the front would hardly count),
both bounded by one reference point: the true front's nadir pushed out by `REFERENCE_MARGIN` of
its range in each objective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from samplenas.errors import UserError
from samplenas.samplers.budget import Budget
from samplenas.samplers.evolution import EvolutionSampler
from samplenas.samplers.pareto import NSGA2, hypervolume, non_dominated
from samplenas.spaces.base import Arch, SearchSpace

COST_COLUMNS = {"macs": "flops_thop", "params": "trainable_parameters"}
REFERENCE_MARGIN = 0.1
# redraws before a search gives up on finding an unseen admitted cell: the params study admits only the ~3 %
# of uniform draws whose count the shared table holds, where the samplers' default of 200 can run dry
MAX_TRIES = 5000
METHODS = ("nsga2", "random", "penalty")


class TableObjectives:
    """(cost, 1 - accuracy) of flat `nb101` architectures, from one table."""

    def __init__(self, bench, cost: str = "macs", metric: str = "test_accuracy", repeat: str | int = 0):
        if cost not in COST_COLUMNS:
            raise UserError(f"unknown cost {cost!r}; valid: {', '.join(COST_COLUMNS)}")
        if COST_COLUMNS[cost] not in bench.metric_names():
            raise UserError(f"{bench.path.name} has no {COST_COLUMNS[cost]} column for the {cost} cost")
        self.bench, self.cost_name = bench, cost
        self.error = 1.0 - bench.values(metric, None, 108, repeat=repeat)
        self.cost = bench.values(COST_COLUMNS[cost])
        known = np.isfinite(self.cost) & np.isfinite(self.error)
        if not known.any():
            raise UserError(f"{bench.path.name}: no cell has both {metric} and {cost}")
        self.known = known
        self.cost_max = float(self.cost[known].max())

    def rows(self, archs: Sequence[Arch]) -> np.ndarray:
        return self.bench.lookup_archs(archs)

    def __call__(self, archs: Sequence[Arch]) -> np.ndarray:
        """[n, 2] of (cost, error); unknown values are infinite (never on a front)."""
        rows = self.rows(archs)
        points = np.stack([self.cost[rows], self.error[rows]], axis=1)
        return np.where(np.isfinite(points), points, np.inf)

    def known_budget(self) -> Budget | None:
        """None for a cost every cell has; else a budget at the largest known value (unknown cells refused)."""
        if self.known.all():
            return None
        return Budget({self.cost_name: self.cost_max}, table_costs(self.bench))

    def true_front(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, points [k, 2]) of the exact front over every cell with known values, cheapest first."""
        rows = np.flatnonzero(self.known)
        points = np.stack([self.cost[rows], self.error[rows]], axis=1)
        front = non_dominated(points)
        return rows[front], points[front]


def table_costs(bench) -> Callable[[Arch], dict[str, float]]:
    """A budget's cost function from the table: every cost column it has (an unknown value is infinite,
    so a limit on it refuses the cell)."""
    columns = {name: bench.values(column) for name, column in COST_COLUMNS.items() if column in bench.metric_names()}

    def costs(arch: Arch) -> dict[str, float]:
        row = bench.lookup_archs([arch])[0]
        return {name: float(values[row]) if np.isfinite(values[row]) else np.inf for name, values in columns.items()}

    return costs


def table_budget(bench, space: SearchSpace, max_params: int | None = None,
                 max_macs: int | None = None) -> Budget | None:
    """The budget of the given limits on the table's costs (None without limits), checked to admit some cell."""
    if max_params is None and max_macs is None:
        return None
    missing = [COST_COLUMNS[name] for name, value in (("params", max_params), ("macs", max_macs))
               if value is not None and COST_COLUMNS[name] not in bench.metric_names()]
    if missing:
        raise UserError(f"{bench.path.name} has no {missing[0]} column to hold the budget against")
    return Budget({"params": max_params, "macs": max_macs}, table_costs(bench)).probe(space)


def log_cost(points: np.ndarray) -> np.ndarray:
    """(log10 cost, error): the plane the hypervolume is measured in."""
    points = np.asarray(points, dtype=np.float64)
    return np.stack([np.log10(points[:, 0]), points[:, 1]], axis=1)


def reference_point(front: np.ndarray, margin: float = REFERENCE_MARGIN) -> np.ndarray:
    """Of a front in the (log10 cost, error) plane: its nadir pushed out by `margin` of its range."""
    low, high = front.min(axis=0), front.max(axis=0)
    return high + margin * np.maximum(high - low, 1e-12)


def combine_budgets(*budgets: Budget | None) -> Budget | None:
    """One budget holding the limits of all the given ones (their cost functions are the same table's)."""
    present = [b for b in budgets if b]
    if not present:
        return None
    limits: dict[str, float] = {}
    for budget in present:
        for name, value in budget.limits.items():
            limits[name] = min(value, limits.get(name, np.inf))
    return Budget(limits, present[0].cost)


@dataclass
class Trial:
    archs: list[Arch]
    points: np.ndarray  # [queries, 2] (cost, error) in query order


def run_nsga2(space: SearchSpace, objectives: TableObjectives, queries: int, seed: int,
              budget: Budget | None = None, population_size: int = 20) -> Trial:
    search = NSGA2(space, seed=seed, population_size=population_size, budget=budget, max_tries=MAX_TRIES)
    while len(search.archs) < queries:
        archs = search.ask(min(population_size, queries - len(search.archs)))
        search.tell(archs, objectives(archs))
    return Trial(search.archs, np.asarray(search.objectives))


def run_random(space: SearchSpace, objectives: TableObjectives, queries: int, seed: int,
               budget: Budget | None = None) -> Trial:
    rng = np.random.default_rng(seed)
    seen: dict[str, Arch] = {}
    while len(seen) < queries:
        arch = space.sample_uniform(rng)
        if budget is None or budget.admits(arch):
            seen.setdefault(space.key(arch), arch)
    archs = list(seen.values())
    return Trial(archs, objectives(archs))


def run_penalty(space: SearchSpace, objectives: TableObjectives, queries: int, seed: int,
                budget: Budget | None = None, weight: float = 0.05) -> Trial:
    """Regularised evolution on one scalar: accuracy - weight * cost / largest cost (a soft penalty)."""
    sampler = EvolutionSampler(space, seed=seed, population_size=20, tournament_size=5,
                               max_tries=MAX_TRIES).constrain(budget)
    archs, points = [], []
    while len(archs) < queries:
        arch = sampler.sample(1)[0]
        point = objectives([arch])[0]
        sampler.observe([arch], [1.0 - point[1] - weight * point[0] / objectives.cost_max])
        archs.append(arch)
        points.append(point)
    return Trial(archs, np.asarray(points))


RUNNERS: dict[str, Callable[..., Trial]] = {"nsga2": run_nsga2, "random": run_random, "penalty": run_penalty}


def hypervolume_fraction(points: np.ndarray, true_points: np.ndarray) -> float:
    """HV of `points` / HV of the true front, (cost, error) pairs both, measured in (log10 cost, error)."""
    true_log = log_cost(true_points)
    reference = reference_point(true_log)
    return hypervolume(log_cost(points), reference) / hypervolume(true_log, reference)


def front_entries(space: SearchSpace, objectives: TableObjectives, archs: Sequence[Arch], points: np.ndarray) -> list:
    """The non-dominated queried cells, cheapest first, in the form `retrain --from ... --point K` reads."""
    entries = []
    for point, index in enumerate(non_dominated(points)):
        arch = archs[int(index)]
        entries.append({"point": point, "arch": space.to_str(arch), "encoding": list(arch), "key": space.key(arch),
                        objectives.cost_name: float(points[index, 0]), "accuracy": float(1.0 - points[index, 1])})
    return entries


def plot_front(path, queried: np.ndarray, found: np.ndarray, true_points: np.ndarray | None, cost: str,
               title: str, ylabel: str = "test accuracy (%)") -> None:
    """Queried cells (grey), the found front and, when known, the true front; accuracy against cost."""
    from pathlib import Path

    from samplenas.plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(queried[:, 0], 100 * (1 - queried[:, 1]), s=6, c="0.7", label="queried")
    if true_points is not None:
        ax.step(true_points[:, 0], 100 * (1 - true_points[:, 1]), where="post", c="k", lw=1, label="true front")
    ax.step(found[:, 0], 100 * (1 - found[:, 1]), where="post", c="tab:red", marker="o", ms=3, label="found front")
    ax.set_xscale("log")
    ax.set_xlabel(cost)
    ax.set_ylabel(ylabel)
    ax.set_ylim(max(80.0, 100 * (1 - found[:, 1]).min() - 1), None)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
