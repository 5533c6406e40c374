"""The sandwich rule and in-place distillation: the extremes, the loss, the settings and the step."""

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import samplenas.training.supernet_train as supernet_train
from samplenas.errors import UserError
from samplenas.samplers.budget import Budget
from samplenas.supernet.factory import make_supernet
from samplenas.training.checkpoint import load_checkpoint
from samplenas.training.sandwich import distillation_loss, extreme_archs
from samplenas.training.supernet_train import CHECKPOINT, SupernetTrainer
from samplenas.training.train_config import TrainConfig
from tests.training.stopping import train_until_stopped

TINY_NB101 = {"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1, "image_size": 8, "in_channels": 1,
              "num_classes": 10}
FEW_DRAWS = 24  # the trainer's 512 draws cost a few seconds; the rule is the same


@pytest.fixture(scope="module")
def supernet():
    return make_supernet("nb101", TINY_NB101)


def test_the_extremes_are_the_largest_and_smallest_of_the_draws_and_the_same_on_every_call(supernet):
    untouched = torch.get_rng_state(), np.random.get_state()[1].copy()
    largest, smallest = extreme_archs(supernet, seed=3, draws=FEW_DRAWS)
    assert torch.equal(torch.get_rng_state(), untouched[0])  # no stream of the training is consumed
    assert np.array_equal(np.random.get_state()[1], untouched[1])
    rng = np.random.default_rng([3, 0x5A4D])
    params = [supernet.cost(supernet.space.sample_uniform(rng))["params"] for _ in range(FEW_DRAWS)]
    assert supernet.cost(largest)["params"] == max(params) > supernet.cost(smallest)["params"] == min(params)
    assert extreme_archs(supernet, seed=3, draws=FEW_DRAWS) == (largest, smallest)
    assert extreme_archs(supernet, seed=4, draws=FEW_DRAWS) != (largest, smallest)


def test_the_extremes_keep_to_the_budget_and_a_budget_admitting_none_is_one_line(supernet):
    largest, smallest = extreme_archs(supernet, seed=3, draws=FEW_DRAWS)
    middle = (supernet.cost(largest)["params"] + supernet.cost(smallest)["params"]) // 2
    budget = Budget({"params": middle}, supernet.cost)
    within, _ = extreme_archs(supernet, seed=3, budget=budget, draws=FEW_DRAWS)
    assert supernet.cost(within)["params"] <= middle < supernet.cost(largest)["params"]
    with pytest.raises(UserError, match=r"sandwich rule found no architecture within params <= 1 among 24"):
        extreme_archs(supernet, seed=3, budget=Budget({"params": 1}, supernet.cost), draws=FEW_DRAWS)


def test_the_distillation_loss_is_the_cross_entropy_to_the_teachers_softmax_and_leaves_the_teacher_alone():
    torch.manual_seed(0)
    student = torch.randn(5, 10, requires_grad=True)
    teacher = torch.randn(5, 10, requires_grad=True)
    loss = distillation_loss(student, teacher)
    p = F.softmax(teacher, dim=1).detach()
    entropy = -(p * p.log()).sum(dim=1).mean()
    kl = F.kl_div(F.log_softmax(student, dim=1), p, reduction="batchmean")
    torch.testing.assert_close(loss, kl + entropy)
    loss.backward()
    assert teacher.grad is None and student.grad is not None
    sharp = torch.zeros(5, 10)
    sharp[torch.arange(5), torch.arange(5)] = 1e4  # a certain teacher: plain cross-entropy to its argmax
    torch.testing.assert_close(distillation_loss(student, sharp), F.cross_entropy(student, torch.arange(5)))


def test_settings_the_sandwich_cannot_honour_are_refused():
    base = dict(space="nb101", sampler="uniform")
    with pytest.raises(UserError, match="give sandwich too"):
        TrainConfig(**base, inplace_distill=True).check()
    with pytest.raises(UserError, match="task 'reconstruction' has none"):
        TrainConfig(space="autoencoder", sampler="uniform", sandwich=True, inplace_distill=True).check()
    with pytest.raises(UserError, match="use rank_archs 'same'"):
        TrainConfig(**base, sandwich=True, rank_archs="different").check()
    TrainConfig(space="autoencoder", sampler="uniform", sandwich=True).check()  # labels need no classes


def _trainer(monkeypatch, **changes) -> SupernetTrainer:
    monkeypatch.setattr(supernet_train, "extreme_archs", functools.partial(extreme_archs, draws=FEW_DRAWS))
    values = dict(space="nb101", sampler="uniform", steps=2, batch_size=8, eval_every=0, checkpoint_every=1,
                  network={k: TINY_NB101[k] for k in ("stem_channels", "num_stacks", "cells_per_stack")})
    return SupernetTrainer(TrainConfig(**{**values, **changes}), progress=False)


@pytest.mark.parametrize("distil", [False, True])
def test_a_sandwich_step_trains_largest_smallest_and_sampled_paths_in_one_update(tmp_path, monkeypatch, distil):
    trainer = _trainer(monkeypatch, sandwich=True, inplace_distill=distil)
    largest, smallest = trainer.extremes
    assert trainer.supernet.cost(largest)["params"] > trainer.supernet.cost(smallest)["params"]
    seen, outputs, forward = [], [], trainer.supernet.forward

    def recording(x, arch, gates=None):
        seen.append(arch)
        outputs.append(forward(x, arch, gates))
        return outputs[-1]

    trainer.supernet.forward = recording
    labels = []
    task_loss = trainer.task.loss
    trainer.task.loss = lambda output, target: labels.append(target) or task_loss(output, target)
    steps = trainer.optimizer.step
    updates = []
    trainer.optimizer.step = lambda: updates.append(1) or steps()
    metrics = trainer.train_step(tmp_path)
    assert seen[:2] == [largest, smallest] and len(seen) == 3 and len(updates) == 1
    target, outputs = labels[0], [output.detach() for output in outputs]
    first = task_loss(outputs[0], target)
    rest = [distillation_loss(o, outputs[0]) if distil else task_loss(o, target) for o in outputs[1:]]
    assert len(labels) == (1 if distil else 3)  # distilled paths never see the labels
    assert metrics["train/loss"] == pytest.approx(float(first + sum(rest)) / 3, rel=1e-5)


def test_a_sandwich_run_stopped_and_resumed_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    straight = _trainer(monkeypatch, sandwich=True, inplace_distill=True)
    straight.train(tmp_path / "straight")
    stopped = _trainer(monkeypatch, sandwich=True, inplace_distill=True)
    train_until_stopped(stopped, tmp_path / "stopped", step=1)
    _trainer(monkeypatch, sandwich=True, inplace_distill=True).train(tmp_path / "stopped", resume=True)
    a, b = load_checkpoint(tmp_path / "straight" / CHECKPOINT), load_checkpoint(tmp_path / "stopped" / CHECKPOINT)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    plain = _trainer(monkeypatch)
    plain.train(tmp_path / "plain")
    c = load_checkpoint(tmp_path / "plain" / CHECKPOINT)
    assert not all(torch.equal(a["model"][k], c["model"][k]) for k in a["model"])  # the extremes were trained
