"""Supernet training: exact resume after a real SIGKILL, divergence handling, sampler feedback."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from samplenas.errors import UserError
from samplenas.training.checkpoint import load_checkpoint
from samplenas.training.supernet_train import CHECKPOINT, SupernetTrainer
from samplenas.training.train_config import TrainConfig
from tests.training.stopping import train_until_stopped

TINY_NB101 = {"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}
RESUME_ARGS = [
    "train", "--space", "nb101", "--sampler", "vae", "--epsilon-inc", "0.1", "--steps", "14",
    "--batch-size", "16", "--eval-every", "3", "--eval-archs", "4", "--eval-examples", "32",
    "--bn-batches", "1", "--checkpoint-every", "4", "--network", json.dumps(TINY_NB101),
    "--sampler-options", json.dumps({"iters": 5, "hidden_dim": 16, "batch_size": 8}), "--quiet",
]
# Runs the CLI; after writing the checkpoint of step KILL_AT it announces it and blocks, so the test
# can SIGKILL a live training process at a known point.
WRAPPER = """
import sys, time
import torch
torch.set_num_threads(1)
import samplenas.training.supernet_train as train
original = train.save_checkpoint
def save_and_maybe_wait(path, state):
    original(path, state)
    if state["step"] == int(sys.argv[1]):
        print("CHECKPOINTED", flush=True)
        time.sleep(300)
train.save_checkpoint = save_and_maybe_wait
from samplenas.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _run(wrapper: Path, kill_at: int, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(wrapper), str(kill_at), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_killed_run_resumes_to_bitwise_identical_weights(tmp_path):
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = _run(wrapper, -1, [*RESUME_ARGS, "--out", str(straight)])
    victim = _run(wrapper, 8, [*RESUME_ARGS, "--out", str(killed)])
    assert victim.stdout.readline().strip() == "CHECKPOINTED", victim.stderr.read()
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    assert load_checkpoint(killed / CHECKPOINT)["step"] == 8
    resumed = _run(wrapper, -1, ["train", "--out", str(killed), "--resume", "--quiet"])
    for process in (reference, resumed):
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    a, b = load_checkpoint(straight / CHECKPOINT), load_checkpoint(killed / CHECKPOINT)
    assert a["step"] == b["step"] == 14
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x, y) for x, y in zip(a["sampler"]["inner"]["model"].values(),
                                                 b["sampler"]["inner"]["model"].values()))
    assert a["sampler"]["epsilon"] == b["sampler"]["epsilon"] > 0
    assert a["evaluations"] == b["evaluations"] and len(a["evaluations"]) == 4
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["steps"] == 14 and summary["sampler"] == "vae"


def _tiny(**changes) -> TrainConfig:
    values = dict(space="nb101", sampler="uniform", steps=4, batch_size=8, eval_every=2, eval_archs=2,
                  eval_examples=16, bn_batches=1, checkpoint_every=1, network=TINY_NB101)
    values.update(changes)
    return TrainConfig(**values)


def test_a_proxy_filtered_run_stopped_and_resumed_equals_an_uninterrupted_one(tmp_path):
    options = {"inner": "evolution", "inner_options": {"population_size": 2}, "proxy": "snip", "pool": 3,
               "batch_size": 8}
    config = dict(sampler="proxy-filter", sampler_options=options, steps=4, eval_every=2, checkpoint_every=2)
    straight = SupernetTrainer(_tiny(**config), progress=False)
    untouched = torch.get_rng_state()
    straight.train(tmp_path / "straight")
    assert straight.sampler.scores  # the proxy chose the paths
    # NB101 training draws nothing from the global stream, and neither may the proxy's network builds
    assert torch.equal(torch.get_rng_state(), untouched)

    stopped = SupernetTrainer(_tiny(**config), progress=False)
    train_until_stopped(stopped, tmp_path / "stopped", step=2)
    # a fresh process's filter has no cached scores: it recomputes them, touching no random stream
    SupernetTrainer(_tiny(**config), progress=False).train(tmp_path / "stopped", resume=True)
    a, b = load_checkpoint(tmp_path / "straight" / CHECKPOINT), load_checkpoint(tmp_path / "stopped" / CHECKPOINT)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["evaluations"] == b["evaluations"] and len(a["evaluations"]) == 2
    assert a["sampler"]["inner"]["history"] == b["sampler"]["inner"]["history"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"]) and a["rng"]["numpy"] == b["rng"]["numpy"]


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
    trainer = SupernetTrainer(_tiny(lr=1e30, grad_clip=0.0, steps=6, eval_every=0), progress=False)
    with pytest.raises(UserError, match=r"became (nan|inf|-inf).*last good checkpoint .*\(step (\d)\)") as err:
        trainer.train(tmp_path)
    kept = load_checkpoint(tmp_path / CHECKPOINT)
    assert f"(step {kept['step']})" in str(err.value)
    assert all(torch.isfinite(t).all() for t in kept["model"].values() if t.is_floating_point())


def test_resume_rejects_a_changed_setting_and_a_foreign_checkpoint(tmp_path):
    SupernetTrainer(_tiny(steps=2, eval_every=0), progress=False).train(tmp_path)
    with pytest.raises(UserError, match="lr=0.025.*lr=0.2"):
        SupernetTrainer(_tiny(steps=2, eval_every=0, lr=0.2), progress=False).train(tmp_path, resume=True)
    with pytest.raises(UserError, match="already holds a training run"):
        SupernetTrainer(_tiny(steps=2, eval_every=0), progress=False).train(tmp_path)
    torch.save({"format": "something-else"}, tmp_path / CHECKPOINT)
    with pytest.raises(UserError, match="not a supernet training checkpoint"):
        SupernetTrainer(_tiny(steps=2, eval_every=0), progress=False).train(tmp_path, resume=True)


def test_evaluation_rounds_feed_the_sampler_and_raise_epsilon(tmp_path):
    config = _tiny(sampler="evolution", epsilon_inc=0.25, sampler_options={"population_size": 2}, steps=4)
    trainer = SupernetTrainer(config, progress=False)
    summary = trainer.train(tmp_path)
    inner = trainer.sampler.inner
    assert trainer.sampler.epsilon == 1.0  # 4 steps of +0.25; evaluation draws do not count as steps
    assert len(inner.history) == 4  # two rounds of two scored architectures reached the evolution sampler
    assert [e["step"] for e in trainer.evaluations] == [2, 4]
    assert 0.0 <= summary["last_evaluation"]["max"] <= 1.0
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_fair_groups_accumulate_one_update_per_group(tmp_path):
    trainer = SupernetTrainer(_tiny(space="shufflenet", sampler="fair", steps=1, eval_every=0,
                                    network={"stage_channels": [8, 16, 24, 32], "stem_channels": 4,
                                             "last_channels": 16}), progress=False)
    drawn = []
    original = trainer.sampler.sample
    trainer.sampler.sample = lambda n: drawn.append(n) or original(n)
    trainer.train(tmp_path)
    assert drawn == [4] and trainer.step == 1  # one group of max(dims) = 4 paths, one optimiser step


def test_gradient_mode_moves_the_logits(tmp_path):
    trainer = SupernetTrainer(_tiny(sampler="gumbel", mode="gradient", steps=3, eval_every=0,
                                    sampler_options={"lr": 0.1}), progress=False)
    before = trainer.sampler.logits.detach().clone()
    trainer.train(tmp_path)
    assert not torch.equal(before, trainer.sampler.logits.detach()) and trainer.sampler.steps == 3


def test_gradient_mode_anneals_tau_over_the_run_and_reports_the_derived_architecture(tmp_path):
    """GDAS anneals tau from 10 to 0.1 over the run; a 100-step run once stopped at tau 9.01."""
    trainer = SupernetTrainer(_tiny(sampler="gumbel", mode="gradient", steps=4, eval_every=2, eval_archs=2,
                                    sampler_options={"lr": 0.5}), progress=False)
    assert trainer.sampler.tau_steps == 4
    summary = trainer.train(tmp_path)
    assert trainer.sampler.tau == pytest.approx(0.1)
    derived = trainer.sampler.derived()
    assert summary["derived_arch"] == trainer.space.to_str(derived) and trainer.space.is_valid(derived)
    probs = trainer.sampler.probs()
    argmax = tuple(int(p[:d].argmax()) for p, d in zip(probs, trainer.space.dims))
    assert derived == argmax or not trainer.space.is_valid(argmax)  # argmax unless NB101 repair was needed
    assert all("derived_arch" in e for e in trainer.evaluations)
    kept = SupernetTrainer(_tiny(sampler="gumbel", mode="gradient", steps=4, sampler_options={"tau_steps": 50}),
                           progress=False)
    assert kept.sampler.tau_steps == 50  # an explicit option wins


def test_gradient_mode_needs_gates():
    with pytest.raises(UserError, match="gradient mode needs a sampler with straight-through gates"):
        SupernetTrainer(_tiny(sampler="uniform", mode="gradient"), progress=False)


def test_bad_settings_are_named():
    with pytest.raises(UserError, match="does not fit space"):
        _tiny(task="denoising").check()
    with pytest.raises(UserError, match="unknown mode"):
        _tiny(mode="magic").check()
    with pytest.raises(UserError, match="unknown training setting"):
        TrainConfig.from_dict({"space": "nb101", "sampler": "uniform", "stpes": 3})


def test_a_setting_added_after_a_run_was_written_counts_as_its_default():
    from samplenas.training.supernet_train import check_same_config

    current = _tiny().to_dict()
    older = {k: v for k, v in current.items() if k != "rank_archs"}  # a run from before torchrun training
    check_same_config(older, current, "old run")
    with pytest.raises(UserError, match="rank_archs"):
        check_same_config(older, {**current, "rank_archs": "different"}, "old run")


def test_regularizers_add_their_loss_and_gradient_to_the_step(tmp_path):
    runs = {}
    for name, regularizers in (("plain", []), ("regularized", [lambda net, x, y: net.classifier.bias.sum() * 0 + 5.0]),
                               ("pulled", [lambda net, x, y: 100.0 * net.classifier.bias.sum()]),
                               ("resting", [lambda net, x, y: torch.zeros(())])):
        trainer = SupernetTrainer(_tiny(steps=1, eval_every=0), progress=False)
        seen = []
        trainer.regularizers = [lambda net, x, y, r=r, seen=seen: seen.append((x.shape, y.shape)) or r(net, x, y)
                                for r in regularizers]
        bias = trainer.supernet.classifier.bias.detach().clone()
        metrics = trainer.train_step(tmp_path / name)
        runs[name] = (metrics["train/loss"], trainer.supernet.classifier.bias.detach() - bias, seen)
    assert runs["regularized"][0] == pytest.approx(runs["plain"][0] + 5.0)  # the step's loss holds it
    torch.testing.assert_close(runs["regularized"][1], runs["plain"][1])  # no gradient from a constant
    torch.testing.assert_close(runs["resting"][1], runs["plain"][1])  # nor from a plain zero
    assert (runs["pulled"][1] < runs["plain"][1]).all()  # a gradient on every bias: pushed down
    assert len(runs["pulled"][2]) == 1 and runs["pulled"][2][0][0][0] == 8  # once per step, on the step's batch


def test_the_learning_rate_defaults_per_space_and_a_saved_or_given_one_is_kept():
    from samplenas.training.train_config import DEFAULT_LR, SPACE_LR

    assert TrainConfig(space="nb101", sampler="uniform").lr == SPACE_LR["nb101"] == 0.025
    assert TrainConfig(space="nasnet", sampler="uniform").lr == DEFAULT_LR == 0.1
    assert TrainConfig(space="nb101", sampler="uniform", lr=0.1).lr == 0.1
    saved = TrainConfig(space="nb101", sampler="uniform").to_dict()
    assert saved["lr"] == 0.025
    assert TrainConfig.from_dict({**saved, "lr": 0.1}).lr == 0.1  # a run saved at another lr resumes as it ran
