"""The PBT loop on a tiny population (autoencoder denoising on the embedded digits, CPU, local Ray):
selection, the methods, optimiser-state transfer, a killed member's recovery and exact resume."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from samplenas.errors import UserError
from samplenas.population import pbt as pbt_module
from samplenas.population.mixing import ShrinkPerturb
from samplenas.population.pbt import PBTJob, PBTRun, check_job, make_child, select, transfer_optimizer
from samplenas.population.pbt_member import build_member, initial_state, job_supernet
from samplenas.training.recipes import resolve_recipe


def tiny_job(out, **changes) -> PBTJob:
    recipe = resolve_recipe("autoencoder", {"epochs": 3, "batch_size": 32, "task": "denoising",
                                            "network": {"max_layers": 3, "num_reductions": 1}})
    settings = dict(space="autoencoder", data="digits", out=out, recipe=recipe, population=4, step_epochs=1,
                    tau=0.5, p=0.5, limit=160, seed=3, progress=False)
    settings.update(changes)
    return PBTJob(**settings)


def history(out):
    return json.loads((out / "pbt_state.json").read_text())["history"]


def test_select_takes_exactly_the_worst_and_best_tau():
    fitness = [0.5, 0.1, float("nan"), 0.9, 0.3, 0.7, 0.2, 0.8]
    worst, best = select(fitness, 2)
    assert worst == [1, 2] and sorted(best) == [3, 7]
    worst, best = select(fitness, 3)
    assert worst == [1, 2, 6] and sorted(best) == [3, 5, 7]


def test_check_job_refuses_bad_settings_before_work(tmp_path):
    for changes, message in (({"space": "nb101"}, "nb101 cannot be mixed"), ({"tau": 0.0}, "--tau must be in"),
                             ({"p": 1.0}, "--p must be in"), ({"tau": 0.6}, "at most 0.5"),
                             ({"population": 4, "tau": 0.25}, "too small for --tau"),
                             ({"step_epochs": 2}, "positive divisor"), ({"method": "x"}, "unknown --method")):
        with pytest.raises(UserError, match=message) as err:
            check_job(tiny_job(tmp_path / "o", **changes))
        assert "\n" not in str(err.value)
    check_job(tiny_job(tmp_path, population=4, tau=0.25, method="no-mixing"))  # one parent is enough
    assert not (tmp_path / "o").exists()


def test_methods_set_shrink_perturb_and_make_the_child_they_should(tmp_path):
    assert tiny_job(tmp_path).shrink_perturb() == ShrinkPerturb(0.4, 0.1)
    assert tiny_job(tmp_path, method="copy").shrink_perturb() == ShrinkPerturb(1.0, 0.0)
    assert tiny_job(tmp_path, method="reinit").shrink_perturb() == ShrinkPerturb(0.0, 1.0)
    assert tiny_job(tmp_path, method="pbt-nas", shrink=0.5).shrink_perturb() == ShrinkPerturb(0.5, 0.1)
    run = PBTRun(tiny_job(tmp_path))
    space = run.space
    a, b = space.parse("3x3conv2d:16,5x5conv2d:8"), space.parse("1x1conv2d:16,3x3conv2d:8,dropout2d")
    pa, pb = initial_state(run.jd, a, 0), initial_state(run.jd, b, 1)
    rng = np.random.default_rng(0)
    child, how = make_child(tiny_job(tmp_path, method="no-mixing"), run.jd, (pa, pa), rng, 1)
    assert how == "self-mix" and child.arch == a
    child, how = make_child(tiny_job(tmp_path, method="pbt-nas", p=0.99), run.jd, (pa, pb), rng, 1)
    assert how == "mix" and child.arch != a
    seen = set()
    for seed in range(12):
        child, how = make_child(tiny_job(tmp_path, method="searl"), run.jd, (pa, pb), np.random.default_rng(seed), 1)
        seen.add(how)
        changed = sum(x != y for x, y in zip(child.arch, a))
        weights_changed = any(not torch.equal(child.state[k], pa["model"][k]) for k in child.state)
        if how == "clone":
            assert child.arch == a and not weights_changed
        elif how == "perturb":
            assert child.arch == a and weights_changed
        else:
            assert how == "resample" and child.arch != a and changed <= len(a)
    assert seen == {"clone", "perturb", "resample"}


def test_optimizer_state_is_kept_for_kept_parameters_and_reset_for_moved_ones(tmp_path):
    run = PBTRun(tiny_job(tmp_path))
    arch = run.space.parse("3x3conv2d:16,5x5conv2d:8")
    net, optimizer = build_member(run.jd, arch)
    net(torch.randn(4, 1, 8, 8)).square().mean().backward()
    optimizer.step()
    parent = {"arch": list(arch), "model": net.state_dict(), "optimizer": optimizer.state_dict(), "steps": 1}
    other = initial_state(run.jd, run.space.parse("3x3conv2d:16,1x1conv2d:8"), 1)
    from samplenas.population.mixing import assemble, mix_arch

    supernet = job_supernet(run.jd)
    child_arch, sources, origins = mix_arch(run.space, arch, tuple(other["arch"]), [False, True, False])
    child = assemble(supernet, child_arch, sources, origins, (arch, parent["model"]),
                     (tuple(other["arch"]), other["model"]), ShrinkPerturb(), 0)
    state = transfer_optimizer(run.jd, arch, parent["optimizer"], child)
    names = [n for n, _ in supernet.build(child_arch).named_parameters()]
    kept = {names[i] for i in state["state"]}
    assert kept == set(child.kept_params) and kept
    assert not any(n.startswith(("ops.1.", "ops.4.")) for n in kept)  # layer 2 and its mirror moved
    fresh_net, fresh_opt = build_member(run.jd, child_arch)
    fresh_opt.load_state_dict(state)  # loadable as is


def test_a_run_replaces_the_worst_and_random_search_replaces_nothing(tmp_path, ray_local):
    job = tiny_job(tmp_path / "pbt")
    result = PBTRun(job).run()
    steps = history(tmp_path / "pbt")
    for h in steps[:-1]:
        worst, _ = select(h["fitness"], 2)
        assert sorted(e["slot"] for e in h["replaced"]) == worst
        for entry in h["replaced"]:
            assert all(p not in worst for p in entry["parents"])
    assert steps[-1]["replaced"] == []
    assert result["replacements"] == 2 * (job.rounds - 1)
    saved = json.loads((tmp_path / "pbt" / "result.json").read_text())
    assert saved["top"][0]["arch"] == result["best"]["arch"]
    assert (tmp_path / "pbt" / "lineage.png").stat().st_size > 0
    assert list((tmp_path / "pbt" / "tensorboard").iterdir())
    random = PBTRun(tiny_job(tmp_path / "random", method="random")).run()
    steps = history(tmp_path / "random")
    assert all(h["replaced"] == [] for h in steps) and random["replacements"] == 0
    assert len({tuple(h["archs"]) for h in steps}) == 1


def test_resume_is_exact_and_a_killed_member_recovers(tmp_path, ray_local, monkeypatch, kill_when_started):
    reference = PBTRun(tiny_job(tmp_path / "ref")).run()
    ref_history = history(tmp_path / "ref")

    # 1. interrupted after round 1 (state saved), then resumed
    real = PBTRun._log_round

    def crash(self, writer, round_, *args):
        real(self, writer, round_, *args)
        if round_ == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(PBTRun, "_log_round", crash)
    with pytest.raises(KeyboardInterrupt):
        PBTRun(tiny_job(tmp_path / "resumed")).run()
    monkeypatch.setattr(PBTRun, "_log_round", real)
    assert json.loads((tmp_path / "resumed" / "pbt_state.json").read_text())["round"] == 1
    with pytest.raises(UserError, match="already holds a PBT run"):
        PBTRun(tiny_job(tmp_path / "resumed")).run()
    resumed = PBTRun(tiny_job(tmp_path / "resumed", resume=True)).run()
    assert [h["fitness"] for h in history(tmp_path / "resumed")] == [h["fitness"] for h in ref_history]
    assert [h["archs"] for h in history(tmp_path / "resumed")] == [h["archs"] for h in ref_history]
    assert resumed["best"]["test"] == reference["best"]["test"]

    # 2. the worker training slot 1 in round 2 is SIGKILLed; Ray re-runs it from its round file
    pid_file = tmp_path / "held.pid"
    job = tiny_job(tmp_path / "killed", hold={"key": "r0001/s001", "pid_file": str(pid_file), "seconds": 60})
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("result", PBTRun(job).run()))
    thread.start()
    killed = kill_when_started(pid_file, thread.is_alive)
    thread.join(timeout=180)
    assert not thread.is_alive()
    records = [json.loads(line) for line in (tmp_path / "killed" / "evaluations.jsonl").read_text().splitlines()]
    rerun = next(r for r in records if r["key"] == "r0001/s001")
    assert rerun["pid"] != killed
    assert [h["fitness"] for h in history(tmp_path / "killed")] == [h["fitness"] for h in ref_history]
    assert outcome["result"]["best"]["test"] == reference["best"]["test"]


def test_soup_averages_members_of_the_winners_architecture(tmp_path):
    a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(7)}
    avg = pbt_module.average_states([a, b])
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0])) and int(avg["n"]) == 5
