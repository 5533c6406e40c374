"""Ranking quality of a NAS-Bench-101 supernet: Kendall tau and Spearman rho between its scores and
the table's test accuracy over cells drawn uniformly (the standard weight-sharing check; Yu et al.
report tau ~ -0.23 for a FairNAS supernet on NB101)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats
from tqdm import tqdm

from samplenas.errors import UserError
from samplenas.training.checkpoint import save_json
from samplenas.training.choices import resolved_standalone
from samplenas.training.scorers import RunScorer, scorer_parts, standalone_setting
from samplenas.training.supernet_ensemble import ensemble_record, open_runs
from samplenas.training.supernet_run import scoring_settings

RANK = "rank.json"


def distinct_uniform(space, n: int, rng: np.random.Generator, max_draws: int = 100_000) -> list:
    """`n` architectures of distinct canonical keys, each drawn uniformly over valid cells."""
    archs, keys = [], set()
    for _ in range(max_draws):
        if len(archs) == n:
            break
        arch = space.sample_uniform(rng)
        key = space.key(arch)
        if key not in keys:
            keys.add(key)
            archs.append(arch)
    if len(archs) < n:
        raise UserError(f"only {len(archs)} distinct architectures in {max_draws} draws")
    return archs


def rank_correlation(scorer, archs: list, accuracy, progress: bool = False) -> tuple[list[float], dict]:
    """Scores of `archs` (`scorer.score(arch)["score"]`: a supernet trainer or a `RunScorer`) and their
    Kendall tau / Spearman rho (with p-values) against `accuracy`."""
    scores = [scorer.score(arch)["score"] for arch in tqdm(archs, disable=not progress, unit="cell", desc="rank")]
    tau = stats.kendalltau(scores, accuracy)
    rho = stats.spearmanr(scores, accuracy)
    return scores, {"kendall_tau": float(tau.statistic), "kendall_p": float(tau.pvalue),
                    "spearman_rho": float(rho.statistic), "spearman_p": float(rho.pvalue)}


def rank_run(run: str | Path, table_path: str | Path, n: int = 100, seed: int = 0, device: str | None = None,
             data_dir: str | None = None, progress: bool = True, evaluation: dict | None = None,
             scorer: str = "supernet", standalone_steps: int | None = None,
             standalone_downscale: int | None = None, ensemble: Sequence = ()) -> dict:
    """`scorer`: how cells are scored (`training.scorers`): the supernet, a zero-cost proxy, each cell trained
    alone for `standalone_steps` steps on the run's images downscaled `standalone_downscale` times (None:
    nb101's defaults, `resolved_standalone`), or a rank average. `ensemble`: other runs trained alike, whose
    supernet scores are averaged with `run`'s."""
    from samplenas.benchmarks.nasbench101 import NASBench101

    standalone = resolved_standalone("nb101", standalone_steps, standalone_downscale)
    standalone_steps, standalone_downscale = standalone["steps"], standalone["downscale"]
    if n < 3 or standalone_steps < 1 or standalone_downscale < 1:
        raise UserError(f"rank needs at least 3 cells and standalone_steps, standalone_downscale >= 1, got {n}, "
                        f"{standalone_steps} and {standalone_downscale}")
    scorer_parts(scorer)  # a misspelt scorer fails before the table and the run are opened
    table = NASBench101(table_path)
    trainer = open_runs([run, *ensemble], device, data_dir, evaluation=evaluation)
    if trainer.config.space != "nb101":
        raise UserError(f"rank needs an nb101 run; {run} trained the {trainer.config.space} space")
    archs = distinct_uniform(trainer.space, n, np.random.default_rng(seed))
    accuracy = table.values("test_accuracy", table.lookup_archs(archs), repeat="mean")
    scorer_run = RunScorer(trainer, scorer, standalone_steps=standalone_steps,
                           standalone_downscale=standalone_downscale)
    scores, correlation = rank_correlation(scorer_run, archs, accuracy, progress)
    report = {
        "run": str(run), **ensemble_record(trainer), "table": str(table_path), "n": n, "seed": seed, "scorer": scorer,
        **correlation,
        "evaluation": {**scoring_settings(trainer),
                       **standalone_setting(scorer, standalone_steps, standalone_downscale)},
        "cells": [{"arch": trainer.space.to_str(a), "score": s, "test_accuracy": float(acc)}
                  for a, s, acc in zip(archs, scores, accuracy)],
    }
    save_json(Path(run) / RANK, report)
    return report
