"""Fit a learned combination of scorers on labelled architectures of a run's space: `samplenas fit-scorer`.

The labels are accuracies the user trusts more than any scorer (cells trained alone, or looked up in a
table); each part is scored exactly as `search` will score it (its position within the run's reference
sample), and the fitted weights come back as a scorer name for `search --scorer`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tqdm import tqdm

from samplenas.errors import InvalidArchitecture, UserError
from samplenas.training.checkpoint import save_json
from samplenas.training.scorer_weights import (
    best_point,
    cross_validated_tau,
    grid_values,
    near_best_weights,
    objective_of,
    weighted_name,
)
from samplenas.training.scorers import RunScorer, scorer_weights
from samplenas.training.supernet_ensemble import ensemble_record, open_runs

SCORER_FIT = "scorer_fit.json"
FOLDS = 5
NEAR_BEST = 0.01  # objective points: the weights this close to the best fit are reported as its range


def read_labelled(path: str | Path, space, label: str | None) -> tuple[list, list[float | None]]:
    """The architectures and labels of a JSON-lines file ({"arch": [...] or "readable form", label: number}
    per line; `label` None: the architectures only), every line checked; at least 6 distinct ones."""
    archs, labels, seen = [], [], set()
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"{where} is not JSON: {error}") from None
        if not isinstance(entry, dict) or "arch" not in entry or (label is not None and label not in entry):
            raise UserError(f"{where} needs an object with \"arch\"" + (f" and {label!r}" if label else ""))
        try:
            given = entry["arch"]
            arch = space.parse(given) if isinstance(given, str) else space.validate(list(given))
        except (InvalidArchitecture, TypeError) as error:
            raise UserError(f"{where}: {error}") from None
        value = entry[label] if label is not None else None
        if label is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise UserError(f"{where}: {label} must be a finite number, got {value!r}")
        if space.key(arch) in seen:
            raise UserError(f"{where}: the architecture is labelled twice")
        seen.add(space.key(arch))
        archs.append(arch)
        labels.append(None if value is None else float(value))
    if len(archs) < 6:
        raise UserError(f"{path}: {len(archs)} labelled architectures; fitting weights needs at least 6")
    return archs, labels


def fit_run_scorer(run: str | Path, labelled: str | Path, scorer: str = "supernet+params", label: str = "val_accuracy",
                   device: str | None = None, data_dir: str | None = None, evaluation: dict | None = None,
                   seed: int = 0, progress: bool = True, objective: str = "kendall",
                   table: str | Path | None = None) -> dict:
    """Weights of `scorer`'s parts fitted on the labelled architectures by `objective` (`kendall` or
    `weighted`, `training.scorer_weights`); `table`: an nb101 run's cells are labelled by the NAS-Bench-101
    table's test accuracy (mean over repeats) instead of the file's `label`. Writes RUN/scorer_fit.json."""
    try:
        measure = objective_of(objective)
    except ValueError as error:
        raise UserError(str(error)) from None
    parts = list(scorer_weights(scorer))
    if len(parts) < 2:
        raise UserError(f"fit-scorer needs at least two parts to weigh, e.g. supernet+params; got {scorer!r}")
    trainer = open_runs([run], device, data_dir, evaluation=evaluation)  # an ensemble run's members as one
    if table is not None:
        from samplenas.benchmarks.nasbench101 import NASBench101

        if trainer.config.space != "nb101":
            raise UserError(f"--table labels nb101 cells; {run} trained the {trainer.config.space} space")
        archs, _ = read_labelled(labelled, trainer.space, None)
        benchmark = NASBench101(table)
        labels = [float(v) for v in benchmark.values("test_accuracy", benchmark.lookup_archs(archs), repeat="mean")]
        label = "table test_accuracy"
    else:
        archs, labels = read_labelled(labelled, trainer.space, label)
    scorer = RunScorer(trainer, "+".join(parts), seed=seed)
    positions = {part: [] for part in parts}
    for arch in tqdm(archs, disable=not progress, unit="arch", desc="fit-scorer"):
        for part, position in scorer.positions(arch)[0].items():
            positions[part].append(position)
    evaluated = grid_values(positions, labels, objective=objective)  # the grid once, for the fit and its range
    weights, fitted = best_point(evaluated)
    folds = min(FOLDS, len(labels) // 3)
    rank_average = [sum(p[i] for p in positions.values()) for i in range(len(labels))]
    report = {
        "run": str(run), **ensemble_record(trainer), "labelled": str(labelled), "label": label,
        "table": None if table is None else str(table),
        "architectures": len(archs), "seed": seed,
        "objective": objective, "scorer": weighted_name(weights), "weights": weights, "fitted": fitted,
        "near_best": near_best_weights(evaluated, NEAR_BEST), "near_best_tolerance": NEAR_BEST,
        "cross_validated": cross_validated_tau(positions, labels, folds=folds, seed=seed, objective=objective),
        "folds": folds, "rank_average": float(measure(rank_average, labels)),
        "parts": {part: float(measure(values, labels)) for part, values in positions.items()},
        "cells": [{"arch": trainer.space.to_str(arch), label: y, **{part: positions[part][i] for part in parts}}
                  for i, (arch, y) in enumerate(zip(archs, labels))],
    }
    save_json(Path(run) / SCORER_FIT, report)
    return report
