"""The zero-cost ranking study and the proxy's ceiling, --smoke: scores judged by the real NB101 table."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _load(name: str):
    sys.path.insert(0, str(TOOLS))
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the ceiling's worker processes find train_cell by its module's name
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_zero_cost_study_scores_every_proxy_and_resumes(data_dir, nb101_table, tmp_path, capsys):
    study = _load("zero_cost_nb101")
    argv = ["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir), "--table", str(nb101_table)]
    assert study.main(argv + ["--proxies", "params", "synflow", "naswot", "--hybrid", "params+synflow"]) == 0
    report = json.loads((tmp_path / "zero_cost.json").read_text())
    assert set(report["random"]) == {"table_flops", "params", "synflow", "naswot", "params+synflow"}
    for stat in report["random"].values():
        low, high = stat["kendall_tau_ci"]
        assert -1 <= low <= stat["kendall_tau"] + 1e-9 and stat["kendall_tau"] - 1e-9 <= high <= 1
    # external truth: the table's FLOPs and our parameter count of the same cells order them alike
    assert report["random"]["table_flops"]["spearman_rho"] > 0.5 and report["random"]["params"]["spearman_rho"] > 0.5
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert len(scores["random:synflow"]) == 12 and len(scores["top:naswot"]) == 6
    assert (tmp_path / "zero_cost.png").stat().st_size > 0
    capsys.readouterr()
    assert study.main(argv + ["--proxies", "params", "synflow", "naswot", "--hybrid", "params+synflow"]) == 0
    assert json.loads((tmp_path / "zero_cost.json").read_text())["random"] == report["random"]  # cached scores
    # paired against params: its own difference is absent, the rest match the unpaired taus' difference
    assert study.main(argv + ["--proxies", "params", "synflow", "--paired-against", "params"]) == 0
    paired = json.loads((tmp_path / "zero_cost.json").read_text())["random"]
    assert "minus params" not in paired["params"]
    diff = paired["synflow"]["minus params"]
    assert diff["tau_difference"] == pytest.approx(paired["synflow"]["kendall_tau"] - paired["params"]["kendall_tau"])
    low, high = diff["tau_difference_ci"]
    assert low <= diff["tau_difference"] <= high
    assert paired["synflow"]["kendall_tau_ci"] == report["random"]["synflow"]["kendall_tau_ci"]
    assert "tau(synflow) - tau(params), paired:" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_ceiling_trains_cells_standalone_and_resumes(data_dir, nb101_table, tmp_path, capsys):
    ceiling = _load("ceiling_nb101")
    argv = ["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir), "--table", str(nb101_table)]
    assert ceiling.main(argv) == 0
    lines = (tmp_path / "cells.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(0 <= json.loads(line)["val_accuracy"] <= 1 for line in lines)
    assert "4 of 4 cells already trained" not in capsys.readouterr().out
    assert ceiling.main(argv) == 0
    assert "4 of 4 cells already trained; training 0" in capsys.readouterr().out
    assert (tmp_path / "cells.jsonl").read_text().splitlines() == lines
