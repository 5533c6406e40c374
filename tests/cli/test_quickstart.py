import json

import pytest

from samplenas.cli import main


@pytest.mark.slow
def test_quickstart_runs_every_stage_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--steps", "50", "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    for name in ("$ samplenas train", "$ samplenas search", "$ samplenas retrain", "quick start results",
                 "test accuracy", str(out / "supernet_scores.png")):
        assert name in printed
    result = json.loads((out / "retrain" / "result.json").read_text())
    top = json.loads((out / "top.json").read_text())
    assert result["arch"] == top["top"][0]["arch"]  # the winner of the search is what was retrained
    assert (out / "supernet_scores.png").read_bytes()[:4] == b"\x89PNG"


def test_quickstart_refuses_to_overwrite_a_run(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert main(["quickstart", "--out", str(tmp_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
