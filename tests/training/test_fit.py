"""The training floor (`training.fit`): one train step with the recipe's schedule and clipping, one
evaluation, one divergence error -- shared by retrain, the supernet trainer and the population tasks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from samplenas.errors import UserError
from samplenas.training.data import DatasetInfo
from samplenas.training.fit import Diverged, check_loss, check_weights, evaluate, train_step
from samplenas.training.recipes import Recipe, learning_rate
from samplenas.training.tasks import make_task
from samplenas.training.tensor_images import TensorImages

INFO = DatasetInfo("toy", 3, 1, 4, (0.5,), (0.25,))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def test_train_step_uses_the_scheduled_lr_and_clips_the_gradient():
    recipe = Recipe(lr=0.5, grad_clip=0.01, momentum=0.0, schedule="cosine")
    net = _net()
    optimizer = torch.optim.SGD(net.parameters(), lr=99.0)
    x, y = torch.randn(8, 1, 4, 4) * 10, torch.arange(8) % 3
    before = [p.detach().clone() for p in net.parameters()]
    loss = train_step(net, optimizer, make_task(recipe, INFO), x, y, recipe, step=3, total_steps=10)
    assert not loss.requires_grad and math.isfinite(float(loss))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(learning_rate(recipe, 3, 10))
    grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in net.parameters()]))
    assert float(grad_norm) <= 0.01 + 1e-6  # clipped (unclipped, this batch's gradient is far larger)
    moved = torch.linalg.vector_norm(torch.cat([(p.detach() - b).flatten() for p, b in zip(net.parameters(), before)]))
    assert float(moved) == pytest.approx(learning_rate(recipe, 3, 10) * float(grad_norm), rel=1e-4)


def test_one_divergence_error_names_the_step_and_what_was_kept():
    check_loss(1.5, 7, "unused")  # finite: nothing happens
    with pytest.raises(Diverged, match=r"^training diverged at step 7: the training loss became nan; kept X$"):
        check_loss(float("nan"), 7, "kept X")
    assert issubclass(Diverged, UserError)  # one line, exit 2 at the command line


def test_a_weight_that_went_non_finite_is_a_divergence_naming_it():
    nets = [_net(), _net()]
    check_weights(nets, 4, "unused")  # finite: nothing happens
    with torch.no_grad():
        nets[1][1].bias[0] = float("inf")
    with pytest.raises(Diverged, match=r"^training diverged at step 4: 1.bias of member 1 is not finite; kept X$"):
        check_weights(nets, 4, "kept X")


def test_evaluate_scores_one_network_on_a_split():
    data = TensorImages(torch.randint(0, 256, (12, 1, 4, 4), dtype=torch.uint8), torch.arange(12) % 3, 1 / 255,
                        (0.5,), (0.25,))
    metrics = evaluate(_net(), data, make_task(Recipe(), INFO), seed=0, batch_size=5)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and math.isfinite(metrics["loss"])
