"""`samplenas pbt`: bad input is one line and exit 2 before any work; a tiny run writes its outputs and a
result.json that `samplenas retrain --from` reads."""

from __future__ import annotations

import json

import pytest

from samplenas.cli import main
from samplenas.training.artifacts import read_top

TINY = ["--space", "autoencoder", "--data", "digits", "--epochs", "2", "--step-epochs", "1", "-N", "4",
        "--tau", "0.5", "--batch-size", "32", "--task", "denoising", "--limit", "120", "--quiet",
        "--network", '{"max_layers": 2, "num_reductions": 1}']


@pytest.mark.parametrize("flags, message", [
    (["--space", "nb101"], "nb101 cannot be mixed layer by layer"),
    (["--tau", "1.2"], "--tau must be in (0, 1)"),
    (["--tau", "0"], "--tau must be in (0, 1)"),
    (["--p", "1"], "--p must be in (0, 1)"),
    (["-N", "4", "--tau", "0.25"], "too small for --tau"),
    (["--step-epochs", "3"], "positive divisor"),
    (["--shrink", "-1"], "--shrink must be"),
    (["--resume"], "nothing to resume"),
    (["--address", "127.0.0.1:1"], "cannot reach Ray cluster at 127.0.0.1:1"),
    (["--method", "searl", "--space", "nb101"], "nb101 cannot be mixed"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    args = ["pbt", *TINY, "--out", str(out), *flags]
    # later flags win in argparse, so the bad value overrides TINY's
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("samplenas pbt: error: ") and message in err and "\n" not in err
    assert not (out / "pbt_state.json").exists() and not (out / "result.json").exists()


def test_tiny_run_writes_result_that_retrain_reads(tmp_path, capsys, ray_local):
    out = tmp_path / "run"
    assert main(["pbt", *TINY, "--out", str(out), "--method", "pbt-nas"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result = json.loads((out / "result.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert printed["best"] == result["best"]["arch"]
    top = read_top(out / "result.json")
    assert (top.kind, top.space, top.best) == ("pbt", "autoencoder", result["top"][0]["arch"])
    assert top.data == result["data"] and top.recipe == result["recipe"]
    assert (out / "lineage.png").exists() and (out / "evaluations.jsonl").exists()
    assert main(["pbt", *TINY, "--out", str(out)]) == 2  # an existing run is not overwritten without --resume
    assert "already holds a PBT run" in capsys.readouterr().err


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_finished_run_resumed_says_it_is_done_and_changes_no_file(tmp_path, capsys, ray_local):
    out = tmp_path / "run"
    assert main(["pbt", *TINY, "--out", str(out)]) == 0
    finished = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    before = _files(out)
    for torn in (b"", b'{"key": "r0009/s000", "fitn'):  # a clean log, then one whose last line was cut mid-write
        with open(out / "evaluations.jsonl", "ab") as log:
            log.write(torn)
        before["evaluations.jsonl"] += torn
        assert main(["pbt", *TINY, "--out", str(out), "--resume"]) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out.strip().splitlines()[-1]) == finished  # the run's own result, again
        assert captured.err.strip() == f"samplenas: {out} holds a finished PBT run: nothing left to do"
        assert _files(out) == before
    (out / "result.json").unlink()  # killed after the last round's state, before its result: finished now
    assert main(["pbt", *TINY, "--out", str(out), "--resume"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == finished
    assert json.loads((out / "result.json").read_text())["best"]["val_fitness"] == finished["val_fitness"]
