"""The eager-autoencoder low-data study's --smoke mode: two sizes of digits, one seed, then a resumed call."""

import json

import pytest

from tests.tools.tool_loader import load_tool


def test_smoke_compares_ensemble_and_monolith_per_size_and_resumes(tmp_path, capsys):
    tool = load_tool("eager_lowdata")
    lock = tmp_path / "heavy.lock"
    assert tool.main(["--smoke", "--out", str(tmp_path), "--lock", str(lock)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "eager_lowdata.json").read_text())
    commands = report["commands"]
    assert len(commands) == 2 and all(c.startswith("samplenas retrain --space autoencoder") for c in commands)
    assert "--train-examples 100" in commands[0] and "--train-examples" not in commands[1]
    assert f"$ flock {lock} samplenas retrain" in printed and "| digits | all (n=1) |" in printed
    for run in report["runs"]:
        result = run["result"]
        assert result["steps_monolith"] == result["steps_ensemble"] == 2 * 4  # 2 copies x --steps 4
        assert 0 < result["probe_ensemble"] <= 1 and 0 < result["probe_monolith"] <= 1
        assert run["command_wall_s"] > 0
    assert report["examples"]["digits"] == {"100": 100, "all": 1438}
    assert (tmp_path / "eager_lowdata.png").stat().st_size > 0

    assert tool.main(["--smoke", "--out", str(tmp_path)]) == 0  # every result.json exists: nothing runs again
    assert "done already" in capsys.readouterr().out
    again = json.loads((tmp_path / "eager_lowdata.json").read_text())
    assert [r["result"] for r in again["runs"]] == [r["result"] for r in report["runs"]]
    assert all(r["command_wall_s"] is None for r in again["runs"])


def test_sizes_are_positive_counts_or_all(capsys):
    with pytest.raises(SystemExit):
        load_tool("eager_lowdata").parse_args(["--out", "x", "--sizes", "0"])
    assert "a training-set size is a positive integer or 'all', got '0'" in capsys.readouterr().err
