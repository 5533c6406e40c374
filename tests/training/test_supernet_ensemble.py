"""Several supernets trained alike scored as one: the members' mean, through search and rank."""

import json

import numpy as np
import pytest

from samplenas.cli import main
from samplenas.errors import UserError
from samplenas.training.supernet_ensemble import SupernetEnsemble, open_runs
from samplenas.training.supernet_run import open_run

NETWORK = {"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}


def train(out, seed: int, network: dict = NETWORK) -> None:
    assert main(["train", "--space", "nb101", "--sampler", "uniform", "--out", str(out), "--steps", "3",
                 "--batch-size", "8", "--eval-every", "3", "--eval-archs", "2", "--eval-examples", "16",
                 "--bn-batches", "1", "--network", json.dumps(network), "--seed", str(seed), "--quiet"]) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    for seed in (0, 1):
        train(folder / f"seed{seed}", seed)
    return [folder / "seed0", folder / "seed1"]


def test_an_ensemble_scores_the_mean_of_its_members(runs):
    ensemble = open_runs(runs)
    assert isinstance(ensemble, SupernetEnsemble) and ensemble.runs == [str(run) for run in runs]
    arch = ensemble.space.sample_uniform(np.random.default_rng(3))
    alone = [open_run(run).score(arch) for run in runs]
    assert alone[0]["loss"] != alone[1]["loss"]  # two seeds, two supernets
    together = ensemble.score(arch)
    assert set(together) == set(alone[0])
    for name in together:
        assert together[name] == pytest.approx((alone[0][name] + alone[1][name]) / 2, abs=1e-6)
    assert ensemble.config.seed == 0 and ensemble.space is ensemble.members[0].space  # the rest: the first's
    assert open_runs(runs[:1]).config.seed == 0  # one run: itself, no ensemble


def test_an_ensemble_on_more_images_is_its_members_on_more_images(runs):
    """with_eval_examples: each member's view (not the first member's alone, as other attributes are)."""
    view = open_runs(runs).with_eval_examples(24)
    assert isinstance(view, SupernetEnsemble) and [m.config.eval_examples for m in view.members] == [24, 24]
    arch = view.space.sample_uniform(np.random.default_rng(4))
    alone = [open_run(run, evaluation={"eval_examples": 24}).score(arch)["loss"] for run in runs]
    assert view.score(arch)["loss"] == pytest.approx(np.mean(alone), abs=1e-12)


def test_members_that_differ_or_repeat_are_refused_in_one_line(runs, tmp_path):
    wider = tmp_path / "wider"
    train(wider, 2, {**NETWORK, "stem_channels": 12})
    with pytest.raises(UserError, match="its network differs") as error:
        open_runs([runs[0], wider])
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="named twice"):
        open_runs([runs[0], runs[1], runs[0]])


def test_search_with_an_ensemble_records_it_and_scores_with_the_mean(runs, capsys):
    code = main(["search", "--run", str(runs[0]), "--ensemble", str(runs[1]), "--scorer", "supernet-loss",
                 "--rescore-top", "0", "--population", "3", "--generations", "1", "--children", "2", "--top", "2",
                 "--seeds", "uniform", "--quiet"])
    assert code == 0 and "an ensemble of 2 supernets" in capsys.readouterr().out
    top = json.loads((runs[0] / "top.json").read_text())
    assert top["ensemble"] == [str(run) for run in runs] and top["evaluated"] == 5
    best = top["top"][0]
    members = [open_run(run).score(tuple(best["encoding"])) for run in runs]
    assert best["score"] == pytest.approx(-np.mean([m["loss"] for m in members]), abs=1e-6)
    capsys.readouterr()
    assert main(["search", "--run", str(runs[0]), "--ensemble", str(runs[1]), "--arch", best["arch"]]) == 0
    assert f"score {np.mean([m['accuracy'] for m in members]):.4f}" in capsys.readouterr().out


@pytest.mark.full_data("nb101")  # ranks cells drawn from the whole space
def test_rank_with_an_ensemble_records_it(runs, nb101_table, capsys):
    assert main(["rank", "--run", str(runs[0]), "--ensemble", str(runs[1]), "--table", str(nb101_table),
                 "--n", "4", "--scorer", "supernet-loss", "--quiet"]) == 0
    assert json.loads((runs[0] / "rank.json").read_text())["ensemble"] == [str(run) for run in runs]
    assert "4 cells scored by supernet-loss on an ensemble of 2 supernets" in capsys.readouterr().out
