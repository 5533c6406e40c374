"""Retraining: multi-process equivalence, exact resume, result.json only on success, ensembles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from samplenas.errors import UserError
from samplenas.supernet import SUPERNETS
from samplenas.training.checkpoint import CHECKPOINT, load_checkpoint
from samplenas.training.data import load_dataset
from samplenas.training.evaluate_checkpoint import evaluate_checkpoint
from samplenas.training.recipes import resolve_recipe
from samplenas.training.retrain import RESULT, retrain
from samplenas.training.retrainer import RetrainJob

NB101_CELL = "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6"
NB101_TINY = {"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}
AUTOENCODER = "3x3conv2d:8,dropout2d"


def nb101_job(out: Path, **overrides) -> RetrainJob:
    recipe = resolve_recipe("nb101", {"epochs": 1, "batch_size": 16, "optimizer": "sgd", "lr": 0.1,
                                      "network": NB101_TINY, **overrides.pop("recipe", {})})
    return RetrainJob(space="nb101", arch=NB101_CELL, data="digits", out=out, recipe=recipe, limit=96,
                      progress=False, **overrides)


def autoencoder_job(out: Path, **overrides) -> RetrainJob:
    recipe = resolve_recipe("autoencoder", {"epochs": 2, "batch_size": 8, "task": "denoising",
                                            **overrides.pop("recipe", {})})
    return RetrainJob(space="autoencoder", arch=AUTOENCODER, data="digits", out=out, recipe=recipe,
                      limit=overrides.pop("limit", 48), progress=False, **overrides)


def weights(directory: Path) -> list[dict]:
    return [m["model"] for m in load_checkpoint(directory / CHECKPOINT)["members"]]


def torchrun(out: Path, *extra: str) -> subprocess.Popen:
    """Two CPU processes (gloo) retraining the tiny NB101 network for 3 steps of global batch 16, started
    (`.communicate()` waits for them)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "samplenas", "retrain", "--space", "nb101", "--arch", NB101_CELL, "--out", str(out),
               "--epochs", "1", "--batch-size", "16", "--optimizer", "sgd", "--lr", "0.1",
               "--network", json.dumps(NB101_TINY), "--limit", "96", "--stop-after", "3", "--quiet", *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: the launcher and its workers


def finished(launch: subprocess.Popen) -> None:
    """Wait for a torchrun launch; it must succeed."""
    _, stderr = launch.communicate(timeout=300)
    assert launch.returncode == 0, stderr[-2000:]


def assert_same_weights(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name].double(), b[name].double(), atol=atol, rtol=0), name


def max_difference(a: dict, b: dict) -> float:
    return max(float((a[n].double() - b[n].double()).abs().max()) for n in a if a[n].is_floating_point())


@pytest.mark.slow  # two torchrun launches side by side (~25 s each on 2 shared cores)
def test_two_gloo_processes_with_sync_bn_equal_one_process(tmp_path):
    # --standalone gives each launch its own free rendezvous port, so the two can run at once
    launches = [torchrun(tmp_path / "two"), torchrun(tmp_path / "unsynced", "--no-sync-bn")]
    try:
        assert retrain(nb101_job(tmp_path / "one", stop_after=3)) is None
        for launch in launches:
            finished(launch)
    finally:
        for launch in launches:  # only the process groups this test started
            if launch.poll() is None:
                os.killpg(launch.pid, signal.SIGKILL)
                launch.wait()

    one, two, apart = weights(tmp_path / "one")[0], weights(tmp_path / "two")[0], weights(tmp_path / "unsynced")[0]
    assert load_checkpoint(tmp_path / "two" / CHECKPOINT)["step"] == 3
    assert_same_weights(one, two, atol=1e-5)  # running BN statistics included
    # the check is sensitive: per-process batch statistics (no sync) end measurably elsewhere
    assert max_difference(one, apart) > 100 * max_difference(one, two)


def test_resume_is_exact(tmp_path):
    """Denoising noise, dropout and the data order all continue exactly after an interruption."""
    full = retrain(autoencoder_job(tmp_path / "full"))
    assert retrain(autoencoder_job(tmp_path / "cut", stop_after=4, checkpoint_steps=2)) is None  # mid-epoch 1
    assert not (tmp_path / "cut" / RESULT).exists()
    assert retrain(autoencoder_job(tmp_path / "cut", stop_after=3, resume=True)) is None  # into epoch 2
    resumed = retrain(autoencoder_job(tmp_path / "cut", resume=True))

    for a, b in zip(weights(tmp_path / "full"), weights(tmp_path / "cut")):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[n], b[n]) for n in a)
    assert resumed["test"] == full["test"]
    assert resumed["steps"] == full["steps"] == 2 * (48 // 8)  # the limit applies to the training split


def test_resume_refuses_a_different_run(tmp_path):
    assert retrain(nb101_job(tmp_path, stop_after=1)) is None
    with pytest.raises(UserError, match="different recipe"):
        retrain(nb101_job(tmp_path, resume=True, recipe={"lr": 0.05}))


def test_result_json_only_on_success(tmp_path):
    (tmp_path / RESULT).write_text("{}")  # stale result of an earlier run: replaced only on request
    with pytest.raises(UserError, match="already holds a run"):
        retrain(nb101_job(tmp_path))
    with pytest.raises(UserError, match="loss became .* no checkpoint was written"):
        retrain(nb101_job(tmp_path, recipe={"lr": 1e30}, overwrite=True))
    assert not (tmp_path / RESULT).exists()
    assert not (tmp_path / CHECKPOINT).exists()  # non-finite weights are never checkpointed

    result = retrain(nb101_job(tmp_path))
    saved = json.loads((tmp_path / RESULT).read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["params"] > 0 and saved["macs"] > 0 and 0 <= saved["test"]["accuracy"] <= 1
    assert saved["test"]["examples"] == 96 and saved["arch_ints"] and saved["command"]


def test_evaluate_reproduces_the_test_metrics(tmp_path):
    result = retrain(nb101_job(tmp_path))
    assert evaluate_checkpoint(tmp_path)["test"] == result["test"]


def test_classifier_ensemble_averages_probabilities(tmp_path):
    result = retrain(nb101_job(tmp_path, ensemble=2))
    report = result["ensemble"]
    assert report["member_steps"] == [96 // 16] * 2
    assert report["monolithic"]["steps"] == 2 * (96 // 16)  # the copies' total
    assert result["test"] == report["combined_test"]
    assert report["member_test"][0] != report["member_test"][1]  # independently initialised

    # the combination, recomputed by hand from the saved networks
    supernet = SUPERNETS["nb101"](**result["settings"])
    nets = []
    for state in weights(tmp_path):
        net = supernet.build(supernet.space.parse(NB101_CELL))
        net.load_state_dict(state)
        nets.append(net.eval())
    test = load_dataset("digits", splits=("test",), limit=96).test
    x, y = test.batch(range(len(test)))
    with torch.no_grad():
        probs = torch.stack([net(x).softmax(dim=1) for net in nets]).mean(dim=0)
    assert result["test"]["accuracy"] == pytest.approx(float((probs.argmax(1) == y).float().mean()))
    assert evaluate_checkpoint(tmp_path)["test"] == result["test"]


def test_autoencoder_ensemble_stops_eagerly_and_probes_linearly(tmp_path):
    """lr 1e-20 (steps below float32 resolution: a learning rate must be positive) and no batch norm: the
    validation loss never improves after epoch 1, so patience 1 stops both copies after epoch 2 of 4; the
    monolithic model gets their total steps."""
    result = retrain(autoencoder_job(tmp_path, ensemble=2, patience=1,
                                     recipe={"epochs": 4, "lr": 1e-20, "task": "reconstruction"}))
    report = result["ensemble"]
    assert report["stopped_early"] == [True, True]
    assert report["member_steps"] == [2 * (48 // 8)] * 2
    assert report["monolithic"]["steps"] == 4 * (48 // 8)
    probe = report["linear_probe"]
    assert probe["ensemble"]["features"] == 2 * probe["monolithic"]["features"] == 2 * 8 * 4 * 4
    assert 0 <= probe["ensemble"]["accuracy"] <= 1
    assert result["test"]["psnr"] > 0


def test_train_examples_shrink_training_only_and_are_kept_for_evaluate(tmp_path):
    """40 drawn examples, 10 of them validation: 30 // 8 = 3 steps an epoch; the whole test set is measured."""
    result = retrain(autoencoder_job(tmp_path, limit=None, train_examples=40, val_fraction=0.25))
    assert result["steps"] == 2 * 3
    assert result["test"]["examples"] == len(load_dataset("digits", splits=("test",)).test)
    assert evaluate_checkpoint(tmp_path)["test"] == result["test"]


def test_step_budget_ends_mid_epoch_and_the_monolith_gets_every_copys_steps(tmp_path):
    result = retrain(autoencoder_job(tmp_path, ensemble=2, step_budget=8))  # 48 // 8 = 6 steps an epoch
    assert result["ensemble"]["member_steps"] == [8, 8] and result["ensemble"]["monolithic"]["steps"] == 16


def test_short_runs_recalibrate_batch_norm_before_testing(tmp_path):
    """NB101's BN momentum (TF 0.997) leaves a few-step run's running statistics near their initial values."""
    from samplenas.supernet.bn import initial_stats_weight

    net = SUPERNETS["nb101"](**NB101_TINY, num_classes=10, in_channels=1, image_size=8).build(
        SUPERNETS["nb101"](**NB101_TINY).space.from_str(NB101_CELL))
    assert initial_stats_weight(net, 1_000) == pytest.approx(0.997 ** 1_000)
    assert initial_stats_weight(torch.nn.BatchNorm2d(4), 100) == pytest.approx(0.9 ** 100)
    short = retrain(nb101_job(tmp_path / "nb101"))
    assert short["bn_recalibration_batches"] > 0
    assert evaluate_checkpoint(tmp_path / "nb101")["bn_recalibration_batches"] == short["bn_recalibration_batches"]
    assert retrain(autoencoder_job(tmp_path / "ae"))["bn_recalibration_batches"] == 0  # no BN in that space
