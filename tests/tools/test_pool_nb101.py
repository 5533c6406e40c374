"""The equal-compute pool study, --smoke, and the pool supernet it trains."""

import json

import numpy as np
import pytest
import torch

from tests.tools.test_interference_nb101 import RecordingSupernet
from tests.tools.tool_loader import load_tool


def test_a_pool_supernet_trains_on_every_candidate_and_scores_the_chosen_one():
    study = load_tool("pool_nb101")
    supernet = RecordingSupernet()
    cells = [tuple(supernet.space.sample_uniform(np.random.default_rng(seed))) for seed in range(4)]
    net = study.pool_supernet(supernet, cells, seed=0)
    for _ in range(80):
        net(torch.ones(1))
    assert set(supernet.calls) == set(cells)  # every candidate trained, nothing else
    supernet.calls.clear()
    net.scored = cells[2]
    with torch.no_grad():
        for _ in range(3):
            net(torch.ones(1))
    assert supernet.calls == [cells[2]] * 3


@pytest.mark.slow
@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_smoke_study_scores_every_candidate_and_reuses_its_weights(data_dir, nb101_table, tmp_path, capsys):
    study = load_tool("pool_nb101")
    out = tmp_path / "out"
    argv = ["--smoke", "--out", str(out), "--data-dir", str(data_dir), "--table", str(nb101_table), "--threads", "1"]
    assert study.main(argv) == 0
    report = json.loads((out / "pool.json").read_text())
    assert len(report["cells"]) == 4 and all(0 <= cell["val_accuracy"] <= 1 for cell in report["cells"])
    assert -1 <= report["kendall_tau"] <= 1 and np.isfinite(report["training"]["loss_last_50"])
    assert -1 <= report["params"]["kendall_tau"] <= 1 and -1 <= report["with_params"]["kendall_tau"] <= 1
    accuracies = [cell["test_accuracy"] for cell in report["cells"]]
    assert report["best_test_accuracy"] == max(accuracies)
    assert report["pick_test_accuracy"] == accuracies[int(np.argmax([c["val_accuracy"] for c in report["cells"]]))]
    minus = report["params"]["minus_params"]  # the supernet against counting parameters, on the same cells
    assert minus["tau_difference"] == pytest.approx(report["kendall_tau"] - report["params"]["kendall_tau"])
    assert -2 <= minus["tau_difference_ci"][0] <= minus["tau_difference_ci"][1] <= 2
    assert "scoring the weights trained before" not in capsys.readouterr().out
    # a rerun with the same settings scores the kept weights, to the same accuracies
    weights = (out / "supernet.pt").read_bytes()
    ceiling = tmp_path / "ceiling"
    ceiling.mkdir()
    (ceiling / "cells.jsonl").write_text("".join(json.dumps({**cell, "settings": {"steps": 300}}) + "\n"
                                                 for cell in report["cells"]))  # as a ceiling run records them
    assert study.main(argv + ["--paired-against", str(ceiling)]) == 0
    assert "scoring the weights trained before" in capsys.readouterr().out
    again = json.loads((out / "pool.json").read_text())
    assert again["cells"] == report["cells"] and (out / "supernet.pt").read_bytes() == weights
    paired = again["paired_against"]
    assert paired["tau_difference"] == 0 and paired["agreement_tau"] == 1  # paired against its own scores
    # other settings are refused there: one run per folder
    with pytest.raises(SystemExit, match="holds a supernet trained with other settings"):
        study.main(argv + ["--steps", "3"])
    assert (out / "supernet.pt").read_bytes() == weights


def test_bad_input_is_one_line(tmp_path, capsys):
    study = load_tool("pool_nb101")
    for bad, message in ((["--cells", "2"], "--cells must be >= 3"), (["--lr", "0"], "--lr must be positive"),
                         (["--paired-against", str(tmp_path)], "no cells.jsonl there")):
        with pytest.raises(SystemExit) as exited:
            study.main(["--smoke", "--out", str(tmp_path / "out"), *bad])
        assert exited.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _smoke_settings(data_dir) -> dict:
    network = {"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}
    return {"data": "digits", "data_dir": str(data_dir), "network": network, "seed": 0, "steps": 8,
            "eval_examples": 64, "bn_batches": 1, "lr": 0.1, "cells": 4}


def test_a_stopped_training_continues_to_the_weights_of_an_uninterrupted_one(data_dir, tmp_path, monkeypatch):
    from samplenas.spaces import SPACES
    from samplenas.training import standalone

    study = load_tool("pool_nb101")
    settings = _smoke_settings(data_dir)
    space = SPACES["nb101"]()
    cells = [tuple(space.sample_uniform(np.random.default_rng(seed))) for seed in range(4)]
    whole = tmp_path / "whole"
    net, _, record = study.trained_network(settings, cells, whole, 1, 3)
    assert not (whole / study.PROGRESS).exists()  # a finished training leaves no state behind

    schedule = standalone.learning_rate  # the schedule the training loop reads

    def stopped_at_step_7(recipe, step, total):
        if step == 7:
            raise KeyboardInterrupt
        return schedule(recipe, step, total)

    stopped = tmp_path / "stopped"
    monkeypatch.setattr(standalone, "learning_rate", stopped_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        study.trained_network(settings, cells, stopped, 1, 3)
    assert torch.load(stopped / study.PROGRESS, weights_only=True)["step"] == 6
    assert not (stopped / "supernet.pt").exists()
    with pytest.raises(SystemExit, match="holds an unfinished training with other settings"):
        study.trained_network({**settings, "lr": 0.05}, cells, stopped, 1, 3)
    monkeypatch.setattr(standalone, "learning_rate", schedule)
    kept = (stopped / study.PROGRESS).read_bytes()
    (stopped / study.PROGRESS).write_bytes(b"torn")
    with pytest.raises(SystemExit, match="cannot be read .*; remove it to train from the start"):
        study.trained_network(settings, cells, stopped, 1, 3)
    (stopped / study.PROGRESS).write_bytes(kept)
    resumed, _, again = study.trained_network(settings, cells, stopped, 1, 3)
    assert again["final_loss"] == record["final_loss"] and again["loss_last_50"] == record["loss_last_50"]
    expected = net.state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in resumed.state_dict().items())
    assert not (stopped / study.PROGRESS).exists()
    assert (stopped / "supernet.pt").read_bytes() == (whole / "supernet.pt").read_bytes()
