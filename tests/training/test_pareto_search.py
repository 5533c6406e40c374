"""`search --pareto` on a tiny supernet: the front of score against cost, then export of one of its points."""

import json

import torch

from samplenas.cli import main

TINY_NB101 = '{"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}'


def test_pareto_search_then_export_a_point(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--space", "nb101", "--sampler", "uniform", "--steps", "4", "--batch-size", "8",
                 "--eval-every", "0", "--eval-examples", "16", "--bn-batches", "1", "--network", TINY_NB101,
                 "--max-macs", "4000000", "--out", str(run), "--quiet"]) == 0
    assert main(["search", "--run", str(run), "--pareto", "--population", "4", "--generations", "1",
                 "--cost-metric", "macs", "--quiet"]) == 0
    assert "on the front of" in capsys.readouterr().out
    report = json.loads((run / "pareto.json").read_text())
    front = report["architectures"]
    assert report["budget"] == {"macs": 4000000} and report["scorer"] == "supernet"
    assert report["scorer_trends"] == {}  # nothing detrended
    assert front and [e["macs"] for e in front] == sorted(e["macs"] for e in front)
    assert all(e["macs"] <= 4000000 for e in front)
    scores = [e["score"] for e in front]
    assert scores == sorted(scores)  # along a front, more cost buys a higher score
    assert (run / "pareto.png").stat().st_size > 0
    out = tmp_path / "point.pt"
    last = len(front) - 1
    assert main(["export", "--from", str(run / "pareto.json"), "--point", str(last), "--format", "state-dict",
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["arch"] == front[last]["arch"]
    assert torch.load(out, weights_only=True)
