import json

import pytest

from samplenas.cli import main
from samplenas.cli.quickstart import stage_commands


@pytest.mark.slow
def test_quickstart_runs_every_stage_and_prints_the_table(tmp_path, capsys, monkeypatch):
    out = tmp_path / "qs"
    _rescore_two_finalists(monkeypatch)
    assert main(["quickstart", "--out", str(out), "--steps", "50", "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    for name in ("$ samplenas train", "$ samplenas search", "$ samplenas retrain", "quick start results",
                 "test accuracy", str(out / "supernet_scores.png")):
        assert name in printed
    result = json.loads((out / "retrain" / "result.json").read_text())
    top = json.loads((out / "top.json").read_text())
    assert result["arch"] == top["top"][0]["arch"]  # the winner of the search is what was retrained
    assert (out / "supernet_scores.png").read_bytes()[:4] == b"\x89PNG"
    marker = json.loads((out / "quickstart.json").read_text())
    assert marker["finished"] and marker["test_accuracy"] == result["test"]["accuracy"]
    assert main(["quickstart", "--out", str(out), "--steps", "50", "--epochs", "1"]) == 2
    assert "pass --overwrite to replace a quick start run" in capsys.readouterr().err
    first = (out / "retrain" / "result.json").stat().st_mtime_ns
    assert main(["quickstart", "--out", str(out), "--steps", "50", "--epochs", "1", "--seed", "1", "--overwrite"]) == 0
    assert "$ samplenas train" in capsys.readouterr().out
    assert (out / "retrain" / "result.json").stat().st_mtime_ns != first
    assert json.loads((out / "quickstart.json").read_text())["settings"]["seed"] == 1


CHEAPER_SEARCH = ["--rescore-top", "2", "--rescore-scorer", "standalone"]


def _rescore_two_finalists(monkeypatch) -> None:
    """The quick start's stages as they are, but its search trains 2 finalists alone instead of the default 10,
    most of a quick start's time (search's own tests cover the default; the README's command runs it whole)."""
    import samplenas.cli

    real = samplenas.cli.main
    monkeypatch.setattr(samplenas.cli, "main",
                        lambda argv: real([*argv, *CHEAPER_SEARCH] if argv[0] == "search" else argv))


def test_quickstart_refuses_to_overwrite_a_run(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert main(["quickstart", "--out", str(tmp_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_overwrite_replaces_only_a_quick_start_run(tmp_path, refused):
    """A train run (no quickstart.json) or a folder of other files is never replaced."""
    train_run = tmp_path / "train_run"
    train_run.mkdir()
    (train_run / "checkpoint.pt").write_bytes(b"weights")
    (train_run / "config.json").write_text("{}")
    refused(["quickstart", "--out", train_run, "--overwrite"], tmp_path, "holds no quick start run")
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "notes.txt").write_text("mine")
    refused(["quickstart", "--out", papers, "--overwrite"], tmp_path, "holds no quick start run")
    (papers / "quickstart.json").write_text(json.dumps({"format": "something else"}))
    refused(["quickstart", "--out", papers, "--overwrite"], tmp_path, "holds no quick start run")


def test_overwrite_is_handed_to_the_stages_that_write_runs(tmp_path):
    from samplenas.cli import build_parser

    args = build_parser().parse_args(["quickstart", "--out", str(tmp_path / "qs"), "--overwrite"])
    train, search, retrain = stage_commands(args)
    assert "--overwrite" in train and "--overwrite" in retrain and "--overwrite" not in search
    args = build_parser().parse_args(["quickstart", "--out", str(tmp_path / "qs")])
    assert not any("--overwrite" in stage for stage in stage_commands(args))


def test_a_first_stage_that_fails_leaves_nothing(tmp_path, capsys, monkeypatch):
    """The folder's marker goes again when the supernet stage wrote nothing (here: refused by train)."""
    import samplenas.cli

    calls = []

    def failing(argv):
        calls.append(argv)
        return 2

    monkeypatch.setattr(samplenas.cli, "main", failing)
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out)]) == 2
    assert calls and calls[0][0] == "train" and not out.exists()
