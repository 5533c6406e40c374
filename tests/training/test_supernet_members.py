"""Ensemble runs (`train --members K`): K ordinary supernet runs in one folder, scored as one."""

import json
import shutil

import numpy as np
import pytest
import torch

from samplenas import load_model
from samplenas.cli import main
from samplenas.errors import UserError
from samplenas.training.artifacts import read_checkpoint
from samplenas.training.supernet_ensemble import SupernetEnsemble, open_runs
from samplenas.training.supernet_members import SUPERNETS, member_folder
from samplenas.training.supernet_run import open_run
from samplenas.training.supernet_train import SupernetTrainer
from samplenas.training.train_config import TrainConfig

NETWORK = json.dumps({"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1})
# 5 steps split between two members: 3 each (rounded up); an evaluation round and a checkpoint at step 2
TINY = ["--space", "nb101", "--sampler", "uniform", "--batch-size", "8", "--eval-every", "2", "--eval-archs", "2",
        "--eval-examples", "16", "--bn-batches", "1", "--checkpoint-every", "2", "--network", NETWORK, "--quiet"]


def train(out, *flags: str) -> int:
    return main(["train", *TINY, "--out", str(out), *flags])


def resume(out, *flags: str) -> int:
    return main(["train", "--out", str(out), "--resume", "--quiet", *flags])


def weights(run) -> dict:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def same_weights(a, b) -> bool:
    first, second = weights(a), weights(b)
    return first.keys() == second.keys() and all(torch.equal(first[name], second[name]) for name in first)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An ensemble run of two members (seed 3, 5 steps) and the two plain runs it should equal."""
    folder = tmp_path_factory.mktemp("members")
    assert train(folder / "ensemble", "--members", "2", "--steps", "5", "--seed", "3") == 0
    for seed in (30, 31):
        assert train(folder / f"seed{seed}", "--steps", "3", "--seed", str(seed)) == 0
    return folder


def test_members_take_seeds_ten_apart_and_a_share_of_the_steps():
    config = TrainConfig(space="nb101", sampler="uniform", seed=7, steps=1757, members=4)
    members = [config.member(index) for index in range(4)]
    assert [m.seed for m in members] == [70, 71, 72, 73] and {m.steps for m in members} == {440}
    assert {m.members for m in members} == {1} and members[2].lr == config.lr and members[2].network == config.network
    alone = TrainConfig(space="nb101", sampler="uniform", seed=7)
    assert alone.member(0) is alone
    with pytest.raises(ValueError):
        config.member(4)
    with pytest.raises(UserError, match="too large for an ensemble run"):
        TrainConfig(space="nb101", sampler="uniform", seed=2**32 - 1, members=2).check()


def test_each_member_is_the_plain_run_of_its_seed(runs):
    ensemble = runs / "ensemble"
    for index, seed in enumerate((30, 31)):
        member = member_folder(ensemble, index)
        assert json.loads((member / "config.json").read_text())["seed"] == seed
        assert same_weights(member, runs / f"seed{seed}")  # bitwise: one process trained both in turn
    saved = json.loads((ensemble / "config.json").read_text())
    assert (saved["members"], saved["seed"], saved["steps"]) == (2, 3, 5)  # what was asked for
    summary = json.loads((ensemble / "summary.json").read_text())
    assert summary["seeds"] == [30, 31] and summary["steps_per_member"] == 3 and summary["steps"] == 6
    assert summary["runs"] == [str(member_folder(ensemble, 0)), str(member_folder(ensemble, 1))]


def test_search_scores_an_ensemble_run_as_its_members(runs):
    opened = open_runs([runs / "ensemble"])
    assert isinstance(opened, SupernetEnsemble) and len(opened.members) == 2
    arch = opened.space.sample_uniform(np.random.default_rng(5))
    plain = open_runs([runs / "seed30", runs / "seed31"]).score(arch)
    assert opened.score(arch) == plain
    argv = ["search", "--scorer", "supernet-loss", "--rescore-top", "0", "--population", "3", "--generations", "1",
            "--children", "2", "--top", "2", "--seeds", "uniform", "--quiet"]
    assert main([*argv, "--run", str(runs / "ensemble")]) == 0
    assert main([*argv, "--run", str(runs / "seed30"), "--ensemble", str(runs / "seed31")]) == 0
    ours, theirs = (json.loads((runs / name / "top.json").read_text()) for name in ("ensemble", "seed30"))
    assert ours["ensemble"] == [str(member_folder(runs / "ensemble", i)) for i in (0, 1)]
    assert [e["score"] for e in ours["top"]] == [e["score"] for e in theirs["top"]]
    assert [e["arch"] for e in ours["top"]] == [e["arch"] for e in theirs["top"]]
    with pytest.raises(UserError, match="named twice"):
        open_runs([runs / "ensemble", member_folder(runs / "ensemble", 1)])


def test_fit_scorer_scores_an_ensemble_run_as_its_members(runs, tmp_path):
    from samplenas.training.rank import distinct_uniform
    from samplenas.training.scorers import RunScorer

    ensemble = runs / "ensemble"
    opened = open_runs([ensemble])
    cells = distinct_uniform(opened.space, 6, np.random.default_rng(2))
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join(json.dumps({"arch": list(arch), "acc": i / 10}) + "\n" for i, arch in enumerate(cells)))
    assert main(["fit-scorer", "--run", str(ensemble), "--labelled", str(labelled), "--label", "acc",
                 "--scorer", "supernet-loss+params", "--quiet"]) == 0
    report = json.loads((ensemble / "scorer_fit.json").read_text())
    assert report["ensemble"] == [str(member_folder(ensemble, i)) for i in (0, 1)]
    expected = RunScorer(opened, "supernet-loss+params", seed=0)
    assert [cell["supernet-loss"] for cell in report["cells"]] == [
        expected.positions(arch)[0]["supernet-loss"] for arch in cells]


def test_one_supernet_of_an_ensemble_run_is_its_first_member(runs):
    ensemble = runs / "ensemble"
    assert open_run(ensemble).loaded_from == str(member_folder(ensemble, 0) / "checkpoint.pt")
    assert read_checkpoint(ensemble).path == member_folder(ensemble, 0) / "checkpoint.pt"
    arch = "ops=conv3x3,conv1x1,conv3x3,maxpool3x3,conv1x1 edges=0-1,0-2,0-5,0-6,1-3,1-4,1-5,2-4,2-6"
    ours = load_model(ensemble, arch=arch).state_dict()
    first = load_model(runs / "seed30", arch=arch).state_dict()
    assert all(torch.equal(ours[name], first[name]) for name in first)


def test_an_interrupted_ensemble_run_resumes_exactly(runs, tmp_path, monkeypatch):
    save = SupernetTrainer.save

    def save_then_stop(trainer, folder):  # member 1 interrupted right after its checkpoint of step 2
        save(trainer, folder)
        if trainer.config.seed == 31 and trainer.step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(SupernetTrainer, "save", save_then_stop)
    out = tmp_path / "ensemble"
    assert train(out, "--members", "2", "--steps", "5", "--seed", "3") == 130
    assert (member_folder(out, 0) / "summary.json").exists() and not (member_folder(out, 1) / "summary.json").exists()
    monkeypatch.setattr(SupernetTrainer, "save", save)
    finished = member_folder(out, 0) / "checkpoint.pt"
    untouched = finished.stat().st_mtime_ns
    assert resume(out) == 0
    assert finished.stat().st_mtime_ns == untouched  # the finished member is not opened again
    for index in (0, 1):
        assert same_weights(member_folder(out, index), member_folder(runs / "ensemble", index))
    (member_folder(out, 1) / "summary.json").write_text(json.dumps({"steps": 3}))  # not a summary train writes
    assert resume(out) == 0  # member 1 opened again (at its last step), its summary written anew
    assert json.loads((member_folder(out, 1) / "summary.json").read_text())["device"] == "cpu"
    assert finished.stat().st_mtime_ns == untouched and same_weights(member_folder(out, 1),
                                                                     member_folder(runs / "ensemble", 1))


def test_ensemble_runs_refuse_what_would_mix_two_runs(runs, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(runs / "ensemble", copy)
    assert train(copy, "--members", "2", "--steps", "5") == 2  # no --resume, no --overwrite
    assert "already holds a run (supernets)" in capsys.readouterr().err
    assert resume(copy, "--steps", "7") == 2
    assert "config.json was written with steps=5, but this run has steps=7" in capsys.readouterr().err
    plain = tmp_path / "plain"
    shutil.copytree(runs / "seed30", plain)
    assert resume(plain, "--members", "2") == 2
    assert "written with members=1, but this run has members=2" in capsys.readouterr().err
    assert train(tmp_path / "many", "--members", "11") == 2
    assert "--members must be in [1, 10], got 11" in capsys.readouterr().err
    assert not (tmp_path / "many").exists()
    assert train(copy, "--overwrite", "--steps", "2") == 0  # one supernet again: the members are gone
    assert not (copy / SUPERNETS).exists() and not (copy / "top.json").exists()
    assert (copy / "checkpoint.pt").exists()
