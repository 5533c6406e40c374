"""The interference study, --smoke, and the pool network it trains."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tools.tool_loader import load_tool


class RecordingSupernet(torch.nn.Module):
    """Stands in for a supernet: remembers which cell each call ran."""

    def __init__(self):
        super().__init__()
        from samplenas.spaces import SPACES

        self.space = SPACES["nb101"]()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.calls = []

    def forward(self, x, arch):
        self.calls.append(tuple(arch))
        return x * self.weight


def test_a_pool_network_trains_on_its_pool_and_scores_the_probe():
    study = load_tool("interference_nb101")
    from samplenas.spaces import SPACES

    probe = tuple(SPACES["nb101"]().sample_uniform(np.random.default_rng(1)))
    supernet = RecordingSupernet()
    net = study.pool_network(supernet, probe, 3, seed=0)
    for _ in range(60):
        net(torch.ones(1))
    drawn = set(supernet.calls)
    assert len(drawn) == 3 and probe in drawn  # K cells, the probe among them
    supernet.calls.clear()
    with torch.no_grad():
        for _ in range(5):
            net(torch.ones(1))
    assert supernet.calls == [probe] * 5
    supernet.calls.clear()
    every = study.pool_network(supernet, probe, 0, seed=0)
    for _ in range(20):
        every(torch.ones(1))
    assert len(set(supernet.calls)) > 15  # pool 0: a fresh uniform draw every step


@pytest.mark.slow
def test_smoke_study_trains_every_row_and_resumes(data_dir, tmp_path, capsys):
    study = load_tool("interference_nb101")
    argv = ["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir)]
    assert study.main(argv) == 0
    report = json.loads((tmp_path / "interference.json").read_text())
    assert [row["pool"] for row in report["rows"]] == ["standalone", 1, 0]
    assert all(0 <= row["val_accuracy"] <= 1 and np.isfinite(row["loss_last_50"]) for row in report["rows"])
    ceiling_cells = Path(__file__).resolve().parents[2] / "docs" / "data" / "nb101_ceiling_cells.jsonl"
    assert report["probe"] == json.loads(ceiling_cells.read_text().splitlines()[0])["arch"]
    rows = (tmp_path / "rows.jsonl").read_text()
    capsys.readouterr()
    assert study.main(argv) == 0  # resumes: nothing trained again
    assert (tmp_path / "rows.jsonl").read_text() == rows
    assert "every cell: training loss" in capsys.readouterr().out


def test_bad_input_is_one_line(tmp_path, capsys):
    study = load_tool("interference_nb101")
    for bad in (["--pools", "2", "2"], ["--pools", "-1"], ["--lr", "0"], ["--steps", "0"]):
        with pytest.raises(SystemExit) as exited:
            study.main(["--smoke", "--out", str(tmp_path / "out"), *bad])
        assert exited.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()[-1]) > 0
    assert not (tmp_path / "out").exists()
