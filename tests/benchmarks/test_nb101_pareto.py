"""The accuracy–cost front on the NAS-Bench-101 table: exact true front, searches against it, the CLI,
budgets in `nb101 study`, and retraining a point of the front."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samplenas.benchmarks import nb101_pareto as pareto
from samplenas.benchmarks.nasbench101 import NASBench101
from samplenas.cli import main
from samplenas.spaces import SPACES

pytestmark = pytest.mark.full_data("nb101")  # searches draw cells from the whole space, which a sample table lacks


@pytest.fixture(scope="module")
def objectives(nb101_table):
    return pareto.TableObjectives(NASBench101(nb101_table), "macs")


def test_true_front_is_dominated_by_no_cell(objectives):
    rows, front = objectives.true_front()
    cost, error = objectives.cost, objectives.error
    for c, e in front:
        beats = (cost <= c) & (error <= e) & ((cost < c) | (error < e))
        assert not beats.any()
    assert np.all(np.diff(front[:, 0]) > 0) and np.all(np.diff(front[:, 1]) < 0)
    assert len(rows) == len(front) and np.allclose(objectives.error[rows], front[:, 1])


def test_hypervolume_fraction_is_one_for_the_true_front(objectives):
    _, front = objectives.true_front()
    assert pareto.hypervolume_fraction(front, front) == pytest.approx(1.0)
    trial = pareto.run_nsga2(SPACES["nb101"](), objectives, 40, seed=0, population_size=10)
    assert 0.0 < pareto.hypervolume_fraction(trial.points, front) < 1.0
    keys = {SPACES["nb101"]().key(a) for a in trial.archs}
    assert len(keys) == 40


@pytest.mark.parametrize("method", pareto.METHODS)
def test_every_method_keeps_a_budget(objectives, method):
    space = SPACES["nb101"]()
    limit = float(np.median(objectives.cost))
    budget = pareto.table_budget(objectives.bench, space, max_macs=int(limit))
    trial = pareto.RUNNERS[method](space, objectives, 30, 1, budget)
    assert len(trial.archs) == 30 and trial.points[:, 0].max() <= limit


def test_params_objective_proposes_only_cells_with_known_counts(nb101_table):
    params = pareto.TableObjectives(NASBench101(nb101_table), "params")
    trial = pareto.run_random(SPACES["nb101"](), params, 10, 0, params.known_budget())
    assert np.isfinite(trial.points).all()


def test_cli_writes_the_front_and_retrain_takes_a_point(nb101_table, tmp_path, capsys):
    out = tmp_path / "front"
    assert main(["nb101", "pareto", "--table", str(nb101_table), "--queries", "30", "--population", "10",
                 "--out", str(out)]) == 0
    assert "of the true front's" in capsys.readouterr().out
    report = json.loads((out / "pareto.json").read_text())
    assert (out / "pareto.png").stat().st_size > 0
    front = report["architectures"]
    assert report["queries"] == 30 and 0 < report["hypervolume_fraction"] < 1
    assert [e["point"] for e in front] == list(range(len(front)))
    assert [e["macs"] for e in front] == sorted(e["macs"] for e in front)
    assert len(front) >= 2
    retrained = tmp_path / "retrained"
    assert main(["retrain", "--from", str(out / "pareto.json"), "--point", "1", "--out", str(retrained), "--quiet",
                 "--epochs", "1", "--limit", "64", "--batch-size", "16", "--network",
                 '{"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}']) == 0
    result = json.loads((retrained / "result.json").read_text())
    assert result["arch_ints"] == front[1]["encoding"]


def test_point_out_of_range_and_table_export_are_clear_errors(nb101_table, tmp_path, refused):
    out = tmp_path / "front"
    assert main(["nb101", "pareto", "--table", str(nb101_table), "--queries", "12", "--population", "6",
                 "--out", str(out)]) == 0
    refused(["retrain", "--from", out / "pareto.json", "--point", "999", "--out", tmp_path / "r"], tmp_path,
            "--point 999 is not in")
    refused(["export", "--from", out / "pareto.json", "--point", "0", "--format", "state-dict",
             "--out", tmp_path / "x.pt"], tmp_path, "a table front has no weights")


def test_study_budget_holds_and_an_impossible_one_is_one_line(nb101_table, objectives, tmp_path, refused, capsys):
    limit = int(np.median(objectives.cost))
    assert main(["nb101", "study", "--table", str(nb101_table), "--protocol", "distribution", "--n", "40",
                 "--sampler", "uniform", "--sampler", "evolution", "--max-macs", str(limit), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["max_macs"] == limit
    space = SPACES["nb101"]()
    for name in ("uniform", "evolution", "vae"):
        from samplenas.samplers import SAMPLERS

        sampler = SAMPLERS[name](space, seed=0).constrain(pareto.table_budget(objectives.bench, space, max_macs=limit))
        assert objectives(sampler.sample(20))[:, 0].max() <= limit
    err = refused(["nb101", "study", "--table", nb101_table, "--protocol", "distribution", "--max-macs", "1"],
                  tmp_path, "admitted none of 50 draws")
    assert "raise --max-macs" in err
