"""`samplenas dnc`: one-line errors before any work, a smoke run, the family plot, and retrain --from."""

from __future__ import annotations

import json

import pytest

from samplenas.cli import main


@pytest.mark.parametrize("argv,message", [
    (["--layers", "3", "1"], "layers: empty range 3..1"),
    (["--lr-log10", "-1", "-5"], "lr_log10: empty range"),
    (["--penalty", "flops"], "unknown penalty 'flops'"),
    (["--cost-weight", "-0.5"], "cost-weight must be >= 0"),
    (["--model", "rnn"], "unknown model 'rnn'"),
    (["--evaluations", "0"], "evaluations must be at least 1"),
    (["--data", "cifar10-jpeg"], "needs --data-dir"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_bad_input_is_one_line_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["dnc", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("samplenas dnc: error:") and message in err and "\n" not in err
    assert not out.exists()


def test_bad_config_files_and_flag_mixes(tmp_path, capsys):
    cases = [({"bn_fractions": []}, "bn_fractions: empty grid"), ({"typo": 1}, "unknown setting(s) typo"),
             ({"epochs": "3"}, "epochs must be an integer"), ({"grid_order": ["bn", "bn"]}, "grid_order"),
             ({"layers": [0, 2, 4]}, "layers must be a [low, high] pair")]
    for config, message in cases:
        path = tmp_path / "c.json"
        path.write_text(json.dumps(config))
        assert main(["dnc", "--out", str(tmp_path / "o"), "--config", str(path)]) == 2
        assert message in capsys.readouterr().err
    assert main(["dnc", "--out", str(tmp_path / "o"), "--resume", "--epochs", "2"]) == 2
    assert "drop --epochs" in capsys.readouterr().err
    assert main(["dnc", "--out", str(tmp_path / "o"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["dnc"]) == 2
    assert "--out is required" in capsys.readouterr().err


def test_smoke_run_then_retrain_from_its_result(tmp_path, capsys, ray_local):
    out = tmp_path / "run"
    assert main(["dnc", "--model", "mlp", "--data", "digits", "--epochs", "1", "--evaluations", "3", "--out", str(out),
                 "--quiet", "--cost-weight", "0.1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result = json.loads((out / "result.json").read_text())
    assert summary["best"]["arch"] == result["best"]["arch"] == result["top"][0]["arch"]
    assert set(result["stages"]) == {"1", "2", "3"}
    assert (out / "tb").is_dir() and (out / "objective.png").is_file()
    retrained = tmp_path / "retrain"
    assert main(["retrain", "--from", str(out / "result.json"), "--out", str(retrained), "--epochs", "1",
                 "--quiet", "--device", "cpu"]) == 0
    final = json.loads((retrained / "result.json").read_text())
    assert final["space"] == "dnc" and final["arch"] == result["best"]["arch"]
    best = result["best"]["hyper"]
    assert (final["recipe"]["lr"], final["recipe"]["batch_size"], final["recipe"]["weight_decay"]) == \
        (best["lr"], best["batch_size"], best["weight_decay"])
    assert final["recipe"]["schedule"] == "step" and final["params"] == result["best"]["params"]


def test_family_plot_from_several_runs(tmp_path, capsys):
    runs = []
    for penalty in ("time", "params"):
        for w in (0.0, 0.1, 10.0):
            run = tmp_path / f"{penalty}-{w}"
            run.mkdir()
            best = {"val_acc": 0.9 - w / 100, "test_acc": 0.89 - w / 100, "t_tr": 1.0 / (1 + w), "params": 1000 - w}
            (run / "result.json").write_text(json.dumps({"format": "samplenas-dnc-1", "model": "mlp", "data": "x",
                                                         "penalty": penalty, "cost_weight": w, "best": best}))
            runs.append(str(run))
    png = tmp_path / "family.png"
    assert main(["dnc", "plot", *runs, "--png", str(png)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 6 and png.stat().st_size > 1000
    assert [r["w_c"] for r in rows if r["penalty"] == "time"] == [0.0, 0.1, 10.0]
    (tmp_path / "bad.json").write_text("{}")
    assert main(["dnc", "plot", str(tmp_path / "bad.json")]) == 2
    assert "is not a DnC result.json" in capsys.readouterr().err


def test_usage_shows_the_two_ways_to_call_it(capsys):
    """--out is what a search needs and `plot` is optional: the usage line says so (argparse's own listed
    `plot ...` as required and --out among the optional flags)."""
    with pytest.raises(SystemExit):
        main(["dnc", "--help"])
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert usage.splitlines() == ["usage: samplenas dnc --out OUT [--resume | --overwrite] [--config FILE] "
                                  "[setting flags ...]",
                                  "       samplenas dnc plot RUN [RUN ...] [--png PNG]"]
    with pytest.raises(SystemExit):
        main(["dnc", "plot", "--help"])
    assert capsys.readouterr().out.startswith("usage: samplenas dnc plot [-h] [--png PNG] RUN [RUN ...]\n")


def test_plot_refuses_search_flags_it_would_ignore(tmp_path, refused):
    refused(["dnc", "--model", "cnn", "plot", tmp_path / "run"], tmp_path, "--model is a search setting")
    refused(["dnc", "--out", tmp_path / "run", "plot", tmp_path / "run"], tmp_path, "--out is a search setting")
    assert refused(["dnc", "plot", tmp_path / "none"], tmp_path).startswith("samplenas dnc plot: error: ")
