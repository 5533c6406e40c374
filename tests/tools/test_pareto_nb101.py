"""The NB101 Pareto study, --smoke: every method's hypervolume fraction against the table's true front."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.full_data("nb101")  # the study draws cells from the whole space, which a sample table lacks

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def test_pareto_study_smoke(nb101_table, tmp_path, capsys):
    sys.path.insert(0, str(TOOLS))
    spec = importlib.util.spec_from_file_location("pareto_nb101", TOOLS / "pareto_nb101.py")
    study = importlib.util.module_from_spec(spec)
    sys.modules["pareto_nb101"] = study  # the worker processes find run_trial by its module's name
    spec.loader.exec_module(study)
    assert study.main(["--smoke", "--table", str(nb101_table), "--work", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "nb101_pareto.json").read_text())
    methods = report["costs"]["macs"]["methods"]
    assert set(methods) == {"nsga2", "random", "penalty"}
    for result in methods.values():
        assert len(result["40"]["values"]) == 2
        assert 0 < result["20"]["mean"] <= result["40"]["mean"] < 1  # more queries never lose volume
    assert (tmp_path / "pareto_nb101.png").stat().st_size > 0
    assert "HV@40" in capsys.readouterr().out
