"""Budgets from the command line: the supernet trains only within them, search keeps them, and a budget
that admits nothing is one line of error before any file is written."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from samplenas.cli import main
from samplenas.errors import UserError
from samplenas.training.budgets import latency_cost, make_budget
from samplenas.training.supernet_train import SupernetTrainer
from samplenas.training.train_config import TrainConfig

TINY_NB101 = {"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}
TRAIN = ["train", "--space", "nb101", "--sampler", "uniform", "--steps", "4", "--batch-size", "8", "--eval-every", "2",
         "--eval-archs", "2", "--eval-examples", "16", "--bn-batches", "1", "--network", json.dumps(TINY_NB101),
         "--quiet"]


@pytest.fixture
def fake_hardware(monkeypatch):
    """A stand-in for samplenas.hardware whose latency is 0.1 ms per unit of the choices' sum."""
    class LatencyModel:
        def __init__(self, path):
            self.path = path

        @classmethod
        def load(cls, path):
            return cls(path)

        def require(self, space=None, network=None):
            pass

        def predict(self, arch):
            return 0.1 * sum(arch)

    module = types.ModuleType("samplenas.hardware")
    module.LatencyModel = LatencyModel
    monkeypatch.setitem(sys.modules, "samplenas.hardware", module)


def test_latency_cost_reads_the_latency_model(fake_hardware):
    assert latency_cost("table.json")((1, 2, 3)) == {"latency_ms": pytest.approx(0.6)}
    budget = make_budget(None, max_latency_ms=0.5, latency_table="table.json")
    assert budget.admits((1, 2, 2)) and not budget.admits((1, 2, 3))


def test_latency_without_the_hardware_module_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "samplenas.hardware", None)  # import fails
    with pytest.raises(UserError, match="needs samplenas.hardware"):
        latency_cost("table.json")


def test_limits_go_together():
    assert make_budget(None) is None
    with pytest.raises(UserError, match="--max-latency-ms and --latency-table go together"):
        make_budget(None, max_latency_ms=3.0)
    with pytest.raises(UserError, match="latency_table go together"):
        TrainConfig(space="nb101", sampler="uniform", max_latency_ms=3.0).check()


def test_supernet_trains_only_within_the_budget(tmp_path, fake_hardware):
    probe = SupernetTrainer(TrainConfig(space="nb101", sampler="uniform", network=TINY_NB101, limit=64),
                            progress=False)
    rng = np.random.default_rng(0)
    costs = sorted(probe.supernet.cost(probe.space.sample_uniform(rng))["params"] for _ in range(6))
    limit = costs[3]
    config = TrainConfig(space="nb101", sampler="uniform", network=TINY_NB101, limit=64, steps=4, batch_size=8,
                         eval_every=2, eval_archs=2, eval_examples=16, bn_batches=1, max_params=limit,
                         max_latency_ms=100.0, latency_table="table.json")
    trainer = SupernetTrainer(config, progress=False)
    drawn = []
    sample = trainer.sampler.sample
    trainer.sampler.sample = lambda n: drawn.extend(sample(n)) or drawn[-n:]
    trainer.train(tmp_path / "run")
    assert len(drawn) == 4 + 2 * 2
    assert all(trainer.supernet.cost(arch)["params"] <= limit for arch in drawn)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["max_params"] == limit


def test_search_keeps_the_run_budget_unless_given_its_own(tmp_path):
    assert main([*TRAIN, "--out", str(tmp_path), "--max-params", "40000"]) == 0
    assert main(["search", "--run", str(tmp_path), "--population", "3", "--generations", "1", "--children", "2",
                 "--quiet", "--scorer", "supernet"]) == 0
    report = json.loads((tmp_path / "top.json").read_text())
    assert report["objective"]["budget"] == {"params": 40000}
    assert all(entry["params"] <= 40000 for entry in report["top"])


def test_impossible_budget_is_refused_before_any_file(tmp_path, refused):
    err = refused([*TRAIN, "--out", tmp_path / "run", "--max-params", "10"], tmp_path,
                  "admitted none of 50 draws from the nb101 space")
    assert "raise --max-params" in err


DIGITS_NB101 = {**TINY_NB101, "in_channels": 1, "num_classes": 10, "image_size": 8}  # the supernet TRAIN builds


def lower_quartile_latency(model) -> float:
    """A latency limit that about a quarter of random architectures meet: it binds, and admits some."""
    rng = np.random.default_rng(0)
    return float(np.quantile([model.predict(model.space.sample(rng)) for _ in range(40)], 0.25))


def test_a_measured_latency_table_bounds_training_and_must_match_the_network(tmp_path, refused,
                                                                             measure_latency_table):
    """The real samplenas.hardware: a table measured for the supernet's own settings (the digits' shape
    included) bounds every trained subnet; a table of another network size is refused in one line."""
    table, model = measure_latency_table("nb101", DIGITS_NB101, tmp_path / "table.json")
    rng = np.random.default_rng(0)
    limit = float(np.median([model.predict(model.space.sample(rng)) for _ in range(20)]))
    config = TrainConfig(space="nb101", sampler="uniform", network=TINY_NB101, limit=64, steps=4, batch_size=8,
                         eval_every=2, eval_archs=2, eval_examples=16, bn_batches=1, max_latency_ms=limit,
                         latency_table=str(table))
    trainer = SupernetTrainer(config, progress=False)
    drawn = []
    sample = trainer.sampler.sample
    trainer.sampler.sample = lambda n: drawn.extend(sample(n)) or drawn[-n:]
    trainer.train(tmp_path / "run")
    assert drawn and all(model.predict(arch) <= limit for arch in drawn)
    wider = json.dumps({**TINY_NB101, "stem_channels": 16})
    refused([*TRAIN[:-3], "--network", wider, "--quiet", "--out", tmp_path / "wide", "--max-latency-ms", str(limit),
             "--latency-table", table], tmp_path, "was measured for stem_channels=8, not 16")


def test_search_under_a_measured_latency_table_scores_only_architectures_within_it(tmp_path, refused,
                                                                                   measure_latency_table):
    """`search` and `search --pareto` with --max-latency-ms and a table made by `samplenas latency`: every
    architecture scored (--top above their number keeps them all) is predicted within the limit."""
    run = tmp_path / "run"
    assert main([*TRAIN, "--out", str(run)]) == 0
    # the run trains with the added input->output edge, a search aid: the table of the official cells applies
    assert json.loads((run / "config.json").read_text())["network"]["input_output_edge"] == "always"
    table, model = measure_latency_table("nb101", DIGITS_NB101, tmp_path / "table.json")
    limit = lower_quartile_latency(model)
    budget = ["--max-latency-ms", str(limit), "--latency-table", str(table)]
    search = ["search", "--run", str(run), "--population", "4", "--generations", "2", "--children", "3",
              "--quiet", "--scorer", "supernet", *budget]
    assert main([*search, "--top", "20"]) == 0
    report = json.loads((run / "top.json").read_text())
    assert report["objective"]["budget"] == {"latency_ms": limit}
    assert len(report["top"]) == report["evaluated"] == 4 + 2 * 3
    assert all(model.predict(tuple(entry["encoding"])) <= limit for entry in report["top"])
    assert main([*search, "--pareto"]) == 0
    front = json.loads((run / "pareto.json").read_text())["architectures"]
    assert front and all(model.predict(tuple(entry["encoding"])) <= limit for entry in front)
    other = json.loads(table.read_text())
    other["network"]["stem_channels"] = 16
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps(other))
    refused([*search[:-1], str(wide)], run, "was measured for stem_channels=16, not 8")
