"""The NB101 Pareto study, --smoke: every method's hypervolume fraction against the table's true front."""

import json

import pytest

from tests.tools.tool_loader import load_tool

pytestmark = pytest.mark.full_data("nb101")  # the study draws cells from the whole space, which a sample table lacks


def test_pareto_study_smoke(nb101_table, tmp_path, capsys):
    study = load_tool("pareto_nb101")  # its worker processes find run_trial by the module's name
    assert study.main(["--smoke", "--table", str(nb101_table), "--work", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "nb101_pareto.json").read_text())
    methods = report["costs"]["macs"]["methods"]
    assert set(methods) == {"nsga2", "random", "penalty"}
    for result in methods.values():
        assert len(result["40"]["values"]) == 2
        assert 0 < result["20"]["mean"] <= result["40"]["mean"] < 1  # more queries never lose volume
    assert (tmp_path / "pareto_nb101.png").stat().st_size > 0
    assert "HV@40" in capsys.readouterr().out
