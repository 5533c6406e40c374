"""`samplenas evolve` end to end on the embedded digits (tiny settings): outputs, bad input as one
line with nothing written, and a driver SIGKILLed after its first checkpoint resumed exactly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from samplenas.cli import main

TINY = ["--data", "digits", "--limit", "96", "--batch-size", "32", "--population", "3",
        "--epochs-per-candidate", "1", "--max-layers", "3", "--reductions", "1", "--seed", "3", "--quiet"]


def _keys(out: Path) -> list[str]:
    return [json.loads(line)["key"] for line in (out / "evaluations.jsonl").read_text().splitlines()]


def test_evolve_writes_results_figures_and_a_retrainable_top(ray_local, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["evolve", "--out", str(out), "--generations", "2", "--final-epochs", "1", "--top", "2", *TINY]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result = json.loads((out / "result.json").read_text())
    assert result["mode"] == "evolution" and result["task"] == "denoising"
    assert [e["rank"] for e in result["top"]] == [1, 2]
    assert all(e["final"]["test_fitness"] > 0 for e in result["top"])
    assert result["network"]["num_reductions"] == 1
    assert 0 <= result["cache"]["hit_fraction"] <= 1 and summary["cache"] == result["cache"]
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == result["evaluations"]["logged"]
    assert sum(k.startswith("final:") for k in keys) == 2
    for name in ("fitness.png", "denoised.png", "state.json"):
        assert (out / name).stat().st_size > 0
    assert any((out / "tensorboard").iterdir())
    # the top list, the data set and the network are what `samplenas retrain --from` reads
    from samplenas.training.artifacts import read_top

    top = read_top(out / "result.json")
    assert (top.kind, top.space, top.best) == ("evolve", "autoencoder", result["top"][0]["arch"])
    assert top.data == result["data"] and top.recipe["network"] == result["network"]


def test_random_baseline_reports_mean_and_std(ray_local, tmp_path, capsys):
    out = tmp_path / "random"
    assert main(["evolve", "--out", str(out), "--baseline", "random", "--samples", "3", "--final-epochs", "1",
                 *TINY]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["mode"] == "random" and result["random"]["samples"] == 3
    fitness = [json.loads(line)["metrics"]["test"]["fitness"] for line in (out / "evaluations.jsonl").read_text()
               .splitlines()]
    assert result["random"]["test_fitness_mean"] == pytest.approx(sum(fitness) / 3)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("flags", "message"), [
    (["--space", "resnet"], "unknown space 'resnet'"),
    (["--task", "classification"], "task 'classification' does not fit the autoencoder space"),
    (["--space", "nb101", "--reductions", "2"], "--reductions applies to the autoencoder space only"),
    (["--population", "1"], "--population must be at least 2"),
    (["--reductions", "4"], "image_size 8 is not divisible by 2^4"),
    (["--baseline", "random", "--samples", "5000", "--max-layers", "2"], "--samples 5000 exceeds"),
    (["--data", "mnist", "--data-dir", "/nonexistent"], "data directory /nonexistent does not exist"),
    (["--resume"], "nothing to resume"),
    (["--address", "127.0.0.1:PORT"], "cannot reach Ray cluster at 127.0.0.1:"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    flags = [f.replace("PORT", str(_closed_port())) for f in flags]
    args = ["evolve", "--out", str(out), "--data", "digits", "--max-layers", "3", *flags]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("samplenas evolve: error: ") and message in err[0]
    assert not out.exists()


def test_a_killed_driver_resumes_to_the_same_population(ray_local, tmp_path, capsys):
    """The driver runs in its own process, joined to the test's Ray (no second Ray instance), and
    is SIGKILLed right after its first checkpoint; --resume must end where an uninterrupted run ends,
    and a second --resume finds nothing left to do."""
    address = ray_local.get_runtime_context().gcs_address
    flags = ["--generations", "3", "--final-epochs", "0", *TINY]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main(["evolve", "--out", str(whole), *flags]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    driver = subprocess.Popen([sys.executable, "-m", "samplenas", "evolve", "--out", str(cut), "--address", address,
                               *flags], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = cut / "state.json"
    deadline = time.monotonic() + 300  # a joining driver's workers start fresh (they receive the shipped code)

    def generation() -> int:  # state.json exists from the start (generation 0) and is replaced atomically
        try:
            return json.loads(state.read_text())["generation"]
        except (OSError, ValueError):
            return -1

    while generation() < 1 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert driver.returncode == -signal.SIGKILL, driver.stderr.read().decode()[-2000:]
    killed_at = json.loads(state.read_text())["generation"]
    assert 1 <= killed_at < 3 and not (cut / "result.json").exists()
    assert main(["evolve", "--out", str(cut), "--resume", *flags]) == 0
    a, b = (json.loads((d / "result.json").read_text()) for d in (whole, cut))
    assert b["population"] == a["population"]
    assert [h["best"] for h in b["history"]] == [h["best"] for h in a["history"]]
    assert b["cache"] == a["cache"]
    assert sorted(_keys(cut)) == sorted(_keys(whole))  # nothing lost, nothing trained twice
    before = {p: p.read_bytes() for p in sorted(cut.rglob("*")) if p.is_file()}
    capsys.readouterr()
    assert main(["evolve", "--out", str(cut), "--resume", *flags]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == f"samplenas: {cut} holds a finished evolve run: nothing left to do"
    assert json.loads(captured.out.strip().splitlines()[-1])["cache"] == b["cache"]  # the run's own result
    assert {p: p.read_bytes() for p in sorted(cut.rglob("*")) if p.is_file()} == before


def test_classification_spaces_evolve_with_accuracy_as_fitness(ray_local, tmp_path):
    out = tmp_path / "nb101"
    assert main(["evolve", "--out", str(out), "--space", "nb101", "--data", "digits", "--network",
                 '{"stem_channels": 8, "num_stacks": 1, "cells_per_stack": 1}', "--population", "2",
                 "--generations", "1", "--final-epochs", "0", "--limit", "64", "--batch-size", "32",
                 "--epochs-per-candidate", "1", "--quiet"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["task"] == "classification" and result["top"][0]["arch"].startswith("ops=")
    records = [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()]
    assert all(r["fitness"] == r["metrics"]["val"]["accuracy"] for r in records)
    assert not (out / "denoised.png").exists()
