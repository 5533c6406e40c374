"""Issue 14's examples, one test per class: each bad input gives one line, exit 2, and leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from samplenas.cli import main
from samplenas.training.checkpoint import load_checkpoint

NB101_CELL = "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6"
NET = json.dumps({"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1})
TRAIN = ["train", "--space", "nb101", "--sampler", "uniform", "--network", NET, "--batch-size", "8",
         "--eval-every", "0", "--bn-batches", "1", "--eval-examples", "16", "--limit", "64", "--quiet"]


def retrain_args(out, *extra) -> list[str]:
    return ["retrain", "--space", "nb101", "--arch", NB101_CELL, "--out", str(out), "--epochs", "1",
            "--batch-size", "16", "--limit", "64", "--optimizer", "sgd", "--lr", "0.1", "--network", NET,
            "--quiet", *extra]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished retrain run (result.json and checkpoint)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(retrain_args(out)) == 0
    return out


# --- data loss and finished directories ------------------------------------------------------------
def test_nothing_in_a_finished_run_is_touched_by_bad_or_unasked_retrains(finished, refused, tmp_path):
    refused(retrain_args(finished, "--arch", "ops=typo"), finished.parent, "already holds a run")
    refused(retrain_args(finished, "--arch", "ops=typo", "--resume"), finished.parent, "nb101")
    refused(retrain_args(finished), finished.parent, "--resume to continue it, --overwrite to replace it")
    refused(retrain_args(finished, "--resume", "--overwrite"), finished.parent, "exclude each other")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "result.json").write_text("{}")
    (broken / "checkpoint.pt").write_bytes((finished / "checkpoint.pt").read_bytes()[:300])
    refused(retrain_args(broken, "--resume"), tmp_path, "cannot be read")


def test_overwrite_replaces_a_finished_run(finished, tmp_path, capsys):
    out = tmp_path / "copy"
    assert main(retrain_args(out)) == 0
    assert main(retrain_args(out, "--overwrite", "--seed", "1")) == 0
    assert json.loads((out / "result.json").read_text())["seed"] == 1


# --- divergence: buffers count, the last finite checkpoint is kept, --lower-lr resumes -------------
def _poison_bn(net: torch.nn.Module) -> None:
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    bn.running_var.fill_(float("inf"))


def test_train_never_calls_a_checkpoint_with_infinite_bn_statistics_good(tmp_path, capsys, monkeypatch):
    from samplenas.training.supernet_train import SupernetTrainer

    real = SupernetTrainer.train_step

    def step(self, out):
        metrics = real(self, out)
        if self.step == 3:
            _poison_bn(self.supernet)  # the loss stays finite: only the buffers know
        return metrics

    monkeypatch.setattr(SupernetTrainer, "train_step", step)
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out), "--steps", "5", "--checkpoint-every", "1"]) == 2
    err = capsys.readouterr().err
    assert "last good checkpoint" in err and "(step 2)" in err, err
    kept = load_checkpoint(out / "checkpoint.pt")
    assert kept["step"] == 2 and all(torch.isfinite(t).all() for t in kept["model"].values() if t.is_floating_point())


def test_retrain_reports_divergence_keeps_the_finite_checkpoint_and_resumes_with_lower_lr(tmp_path, capsys,
                                                                                         monkeypatch):
    from samplenas.training import retrainer as module

    real = module.Trainer.train_step

    def step(self, member, inputs, target):
        loss = real(self, member, inputs, target)
        if member.steps == 3 and self.recipe.lr == 0.1:
            _poison_bn(member.net)
        return loss

    monkeypatch.setattr(module.Trainer, "train_step", step)
    out = tmp_path / "run"
    assert main(retrain_args(out, "--checkpoint-steps", "1")) == 2
    err = capsys.readouterr().err
    assert "diverged at step 3" in err and "running_var" in err and "--lower-lr" in err, err
    assert not (out / "result.json").exists()
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2
    assert main(retrain_args(out, "--resume", "--lr", "0.05")) == 2  # a changed lr needs the explicit flag
    assert "different recipe" in capsys.readouterr().err
    assert main(retrain_args(out, "--resume", "--lr", "0.2", "--lower-lr")) == 2
    assert "below the checkpoint's 0.1" in capsys.readouterr().err
    assert main(retrain_args(out, "--resume", "--lr", "0.05", "--lower-lr")) == 0
    assert json.loads((out / "result.json").read_text())["recipe"]["lr"] == 0.05


# --- checkpoints -----------------------------------------------------------------------------------
@pytest.mark.parametrize("damage, expected", [
    (lambda s: s.pop("members"), "missing key members"),
    (lambda s: s.pop("step"), "missing key step"),
    (lambda s: s.update(step="7"), "step should be an integer, got str"),
    (lambda s: s["meta"].pop("data_dir"), "missing key meta.data_dir"),
    (lambda s: s["meta"]["recipe"].update(colour=1), "unknown setting(s) colour"),
    (lambda s: s["meta"].update(settings={"stem_channels": 8, "num_stacks": 1, "cells_per_stack": 1}),
     "do not fit its recorded network settings"),
    (lambda s: s["meta"].update(format="samplenas-retrain-9"), "this version of samplenas reads"),
])
def test_damaged_retrain_checkpoints_are_refused_by_evaluate(finished, tmp_path, refused, damage, expected):
    state = load_checkpoint(finished / "checkpoint.pt")
    damage(state)
    torch.save(state, tmp_path / "checkpoint.pt")
    refused(["evaluate", "--checkpoint", tmp_path / "checkpoint.pt"], tmp_path, expected)


@pytest.mark.parametrize("damage, expected", [
    (lambda s: s.pop("evaluations"), "missing key evaluations"),
    (lambda s: s.update(step="3"), "step should be an integer"),
    (lambda s: s["stream"].pop("epoch"), "missing key stream.epoch"),
    (lambda s: s["model"].update(extra="x"), "should be a tensor"),
])
def test_damaged_supernet_checkpoints_are_refused_by_resume_and_search(tmp_path, refused, damage, expected):
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out), "--steps", "2"]) == 0
    state = load_checkpoint(out / "checkpoint.pt")
    damage(state)
    torch.save(state, out / "checkpoint.pt")
    refused(["train", "--out", out, "--resume", "--quiet"], tmp_path, expected)
    refused(["search", "--run", out, "--population", "2", "--generations", "1", "--quiet"], tmp_path, expected)


# --- configs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("config, expected", [
    ({"steps": "abc"}, "steps must be an integer, got a string"),
    ({"steps": "3"}, "steps must be an integer"),
    ({"steps": 2.5}, "steps must be an integer, got a number 2.5"),
    ({"lr": "x"}, "lr must be a number"),
    ({"batch_size": None}, "batch_size must be an integer, got null"),
    ({"sampler": ["uniform"]}, "sampler must be a string, got a list"),
    ({"network": [1, 2]}, "network must be an object"),
    ({"sampler_options": {"lr": "x"}}, "unknown option 'lr'"),
    ({"colour": 1}, "unknown training setting(s) colour"),
])
def test_train_config_types_are_checked(tmp_path, refused, config, expected):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"space": "nb101", "sampler": "uniform", **config}))
    refused(["train", "--config", path, "--out", tmp_path / "run"], tmp_path, expected)


def test_non_utf8_and_deep_json_are_one_line(tmp_path, refused):
    (tmp_path / "latin1.json").write_bytes('{"space": "nb101", "sampler": "unifórm"}'.encode("latin-1"))
    refused(["train", "--config", tmp_path / "latin1.json", "--out", tmp_path / "run"], tmp_path, "not UTF-8")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(["retrain", "--space", "nb101", "--arch", NB101_CELL, "--config", tmp_path / "deep.json",
             "--out", tmp_path / "run"], tmp_path, "nested deeper")
    refused(["train", "--space", "nb101", "--sampler", "uniform", "--out", tmp_path / "run",
             "--network", '{"a":' * 40 + "1" + "}" * 40], tmp_path, "nested deeper")
    refused(["train", "--space", "nb101", "--sampler", "uniform", "--out", tmp_path / "run",
             "--sampler-options", '{"x": NaN}'], tmp_path, "NaN is not allowed")


# --- numbers, paths, architecture text ---------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    (["spaces", "--sample", "-3"], "--sample must be >= 0"),
    (["spaces", "nb101", "--validate", "²"], "non-ASCII"),
    (["spaces", "nb101", "--validate="], "empty"),
    (["spaces", "nb101", "--validate=--1"], "nb101"),
    ([*TRAIN, "--out", "{out}", "--seed", "-1"], "--seed must be in [0, 4294967295]"),
    ([*TRAIN, "--out", "{out}", "--lr", "0"], "--lr must be positive, got 0.0"),
    ([*TRAIN, "--out", "{out}", "--workers", "2"], "--workers is now --loader-workers"),
    ([*TRAIN, "--out", "{out}", "--loader-workers", "-1"], "--loader-workers must be >= 0"),
    ([*TRAIN, "--out", "{out}", "--seed", str(2**70)], "--seed must be in"),
    ([*TRAIN, "--out", "{out}", "--device", "tpu"], "--device must be cpu, cuda or cuda:N"),
    ([*TRAIN, "--out", "{out}", "--lr", "1e300"], "--lr must be at most 1e+30, got 1e+300"),
    ([*TRAIN, "--out", "{out}", "--grad-clip", "nan"], "--grad-clip must be a finite number"),
    ([*TRAIN, "--out", "{file}"], "is a file"),
    (retrain_args("{out}", "--stop-after", "-1"), "--stop-after must be at least 1"),
    (retrain_args("{out}", "--stop-after", "0"), "--stop-after must be at least 1"),
    (retrain_args("{out}", "--lr", "0"), "--lr must be positive"),
    (retrain_args("{out}", "--checkpoint-steps", "-2"), "--checkpoint-steps must be >= 0"),
    (retrain_args("{out}", "--patience", "-1"), "--patience must be >= 0"),
    (retrain_args("{out}", "--loader-workers", "-1"), "--loader-workers must be >= 0"),
    (retrain_args("{out}", "--workers", "2"), "--workers is now --loader-workers"),
    (retrain_args("{out}", "--limit", "-1"), "--limit must be at least 1"),
    (retrain_args("{out}", "--lower-lr"), "--lower-lr goes with --resume"),
    (["nb101", "study", "--table", "{file}", "--ks", "0"], "--ks must be comma-separated positive integers"),
    (["nb101", "study", "--table", "{file}", "--protocol", "search", "--budget", "0"], "--budget must be at least 1"),
    (["nb101", "study", "--table", "{file}", "--seeds", "0"], "--seeds must be at least 1"),
    (["nb101", "study", "--table", "{file}", "--trials", "0"], "--trials must be at least 1"),
    (["nb101", "study", "--table", "{file}", "--noise", "nan"], "--noise must be a finite number"),
    (["nb101", "study", "--table", "{file}", "--warmup", "-5"], "--warmup must be >= 0"),
    (["nb101", "study", "--table", "{file}", "--batch", "0"], "--batch must be at least 1"),
    (["quickstart", "--epochs", "0", "--out", "{out}"], "--epochs must be at least 1"),
    (["search", "--run", "{out}", "--max-params", "0"], "--max-params must be at least 1"),
])
def test_numbers_and_paths_are_checked_before_any_work(tmp_path, refused, argv, expected):
    (tmp_path / "file").write_text("not a folder")
    argv = [str(a).replace("{out}", str(tmp_path / "run")).replace("{file}", str(tmp_path / "file")) for a in argv]
    refused(argv, tmp_path, expected)


# --- run directories ---------------------------------------------------------------------------------
def test_a_second_train_on_the_same_out_is_refused(tmp_path, refused):
    hold = ("import sys, time\nfrom samplenas.training.rundir import RunDir\n"
            "with RunDir(sys.argv[1]):\n    print('LOCKED', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        refused([*TRAIN, "--out", tmp_path / "run", "--steps", "2"], tmp_path, "is in use by process")
        refused(retrain_args(tmp_path / "run"), tmp_path, "is in use by process")
    finally:
        holder.kill()
        holder.wait()


def test_resume_before_the_first_checkpoint_starts_from_scratch(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"space": "nb101", "sampler": "uniform", "steps": 2,
                                                 "batch_size": 8, "eval_every": 0, "limit": 64,
                                                 "network": json.loads(NET)}))
    (out / ".checkpoint.pt.dead.tmp").write_bytes(b"half-written by a killed run")
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0
    assert "starting it from step 0" in capsys.readouterr().err
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2
    assert not list(out.glob(".*.tmp"))
    empty = tmp_path / "empty"
    assert main(["train", "--out", str(empty), "--resume"]) == 2
    assert "start it without --resume" in capsys.readouterr().err


def test_a_failing_first_run_leaves_no_partial_output(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out), "--steps", "3", "--lr", "1e30", "--grad-clip", "0"]) == 2
    assert "no checkpoint was written" in capsys.readouterr().err
    assert not out.exists()  # no config.json, no tensorboard/, no empty folder
