"""A learned combination of scorers: the weights of each part's rank position, fitted on a few labelled
architectures (cells trained alone, or queried from a table) instead of the plain rank average.

Weights are non-negative and sum to one (a part that ranks backwards gets none rather than a sign flip a
few labels cannot justify), and they are the point of a grid over that simplex whose weighted positions
rank the labelled architectures best by Kendall tau; among equally good points the one closest to equal
weights wins, so a tie never favours a part by the order the parts were named in. A grid, not a
regression: tau is what the combination is judged by, and with tens of labels the search is exact and fast.

Two objectives: `kendall`, Kendall's tau over every pair; `weighted`, Vigna's weighted tau (scipy's
`weightedtau`, hyperbolic weights, averaged over ranking by score and by label), which counts a swap
among the best architectures more than one among the worst: what a search's pick depends on.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

MAX_GRID_POINTS = 50_000
OBJECTIVES = {
    "kendall": lambda scores, labels: stats.kendalltau(scores, labels).statistic,
    "weighted": lambda scores, labels: stats.weightedtau(scores, labels).statistic,
}


def objective_of(name: str):
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def grid_step(parts: int) -> float:
    """The finest of 0.05, 0.1, 0.2, ... whose simplex grid over `parts` weights stays under MAX_GRID_POINTS."""
    divisions = 20
    while divisions > 1 and math.comb(divisions + parts - 1, parts - 1) > MAX_GRID_POINTS:
        divisions //= 2
    return 1.0 / divisions


def simplex_grid(parts: int, step: float) -> np.ndarray:
    """Every weight vector of `parts` non-negative multiples of `step` that sum to one (rows)."""
    divisions = round(1.0 / step)
    slots = divisions + parts - 1  # stars and bars: parts - 1 bars among the slots, the stars between them
    rows = [np.diff([-1, *bars, slots]) - 1 for bars in itertools.combinations(range(slots), parts - 1)]
    return np.asarray(rows, dtype=np.float64).reshape(-1, parts) / divisions


def grid_values(positions: Mapping[str, Sequence[float]], labels: Sequence[float], step: float | None = None,
                objective: str = "kendall") -> tuple[list[str], np.ndarray, np.ndarray]:
    """(part names, the simplex grid of their weights, the objective at every grid point; NaN -> -inf)."""
    measure = objective_of(objective)
    names = list(positions)
    labels = np.asarray(labels, dtype=np.float64)
    if not names or any(len(positions[name]) != len(labels) for name in names):
        raise ValueError("fit_rank_weights needs one position per label for every part")
    matrix = np.asarray([positions[name] for name in names], dtype=np.float64)
    if len(labels) < 3 or not np.all(np.isfinite(labels)):
        raise ValueError("fit_rank_weights needs at least 3 finite labels")
    grid = simplex_grid(len(names), step or grid_step(len(names))) if len(names) > 1 else np.ones((1, 1))
    values = np.array([measure(weights @ matrix, labels) for weights in grid])
    return names, grid, np.nan_to_num(values, nan=-np.inf)


def fit_rank_weights(positions: Mapping[str, Sequence[float]], labels: Sequence[float],
                     step: float | None = None, objective: str = "kendall") -> tuple[dict[str, float], float]:
    """({part: weight}, the objective on the labels) of the best grid point. `positions`: each part's rank
    position (higher is better) of the labelled architectures, in the order of `labels`."""
    return best_point(grid_values(positions, labels, step, objective))


def best_point(evaluated: tuple[list[str], np.ndarray, np.ndarray]) -> tuple[dict[str, float], float]:
    """The best point of an evaluated grid (`grid_values`), ties to the most even weights."""
    names, grid, values = evaluated
    best = np.flatnonzero(np.isclose(values, values.max(), rtol=0, atol=1e-12))
    even = np.full(len(names), 1.0 / len(names))
    chosen = best[np.argmin(np.linalg.norm(grid[best] - even, axis=1))]
    return {name: float(w) for name, w in zip(names, grid[chosen])}, float(values[chosen])


def near_best_weights(evaluated: tuple[list[str], np.ndarray, np.ndarray],
                      tolerance: float = 0.01) -> dict[str, list[float]]:
    """{part: [lowest, highest] weight} over the points of an evaluated grid (`grid_values`) within
    `tolerance` of the best objective: how firmly the labels pin the weights down (with tens of labels,
    often not much)."""
    names, grid, values = evaluated
    close = grid[values >= values.max() - tolerance]
    return {name: [float(close[:, i].min()), float(close[:, i].max())] for i, name in enumerate(names)}


def weighted_name(weights: Mapping[str, float]) -> str:
    """The scorer name of a weighted combination, e.g. "0.25*supernet+0.75*params" (zero weights kept, so
    the name still says which parts were fitted)."""
    return "+".join(f"{weight:g}*{part}" for part, weight in weights.items())


def cross_validated_tau(positions: Mapping[str, Sequence[float]], labels: Sequence[float], folds: int = 5,
                        seed: int = 0, objective: str = "kendall") -> float:
    """The objective of held-out scores: the labelled architectures split into `folds` seeded folds, each
    scored with the weights fitted on the others, the held-out scores pooled. The in-sample value of
    `fit_rank_weights` flatters the fit; this is what to expect on architectures it has not seen."""
    measure = objective_of(objective)
    labels = np.asarray(labels, dtype=np.float64)
    if not 2 <= folds <= len(labels) // 3:
        raise ValueError(f"cross-validation needs 2 <= folds <= labels / 3, got {folds} folds of {len(labels)}")
    matrix = {name: np.asarray(values, dtype=np.float64) for name, values in positions.items()}
    order = np.random.default_rng(seed).permutation(len(labels))
    held_out = np.empty(len(labels))
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        weights, _ = fit_rank_weights({name: values[train] for name, values in matrix.items()}, labels[train],
                                      objective=objective)
        held_out[fold] = sum(weight * matrix[name][fold] for name, weight in weights.items())
    return float(measure(held_out, labels))
