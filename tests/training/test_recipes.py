"""Published recipes, overrides, schedules and TensorFlow-style RMSProp."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from samplenas.errors import UserError
from samplenas.training.optimizers import RMSpropTF
from samplenas.training.recipes import PUBLISHED, learning_rate, read_config, resolve_recipe


def test_published_recipes_hold_the_papers_values():
    darts = PUBLISHED["nasnet"]
    assert (darts.epochs, darts.batch_size, darts.lr, darts.weight_decay) == (600, 96, 0.025, 3e-4)
    assert (darts.cutout, darts.drop_path, darts.auxiliary_weight, darts.grad_clip) == (16, 0.2, 0.4, 5.0)
    assert darts.network == {"C": 36, "layers": 20, "auxiliary": True}
    nb101 = PUBLISHED["nb101"]
    assert (nb101.epochs, nb101.batch_size, nb101.optimizer, nb101.lr) == (108, 256, "rmsprop_tf", 0.2)
    spos = PUBLISHED["shufflenet"]
    assert (spos.batch_size, spos.lr, spos.schedule, spos.label_smoothing, spos.weight_decay) == \
        (1024, 0.5, "linear", 0.1, 4e-5)
    assert PUBLISHED["autoencoder"].task == "reconstruction"


def test_overrides_apply_in_order_and_merge_network_settings(tmp_path):
    config = tmp_path / "recipe.json"
    config.write_text(json.dumps({"epochs": 5, "lr": 0.1, "network": {"C": 8}}))
    recipe = resolve_recipe("nasnet", read_config(config), {"lr": 0.05, "epochs": None})
    assert (recipe.epochs, recipe.lr) == (5, 0.05)  # flag beats file; None = flag not given
    assert recipe.network == {"C": 8, "layers": 20, "auxiliary": True}
    assert PUBLISHED["nasnet"].network["C"] == 36  # the defaults are untouched


@pytest.mark.parametrize("override, message", [
    ({"epoch": 3}, r"recipe: unknown setting\(s\) epoch"),
    ({"optimizer": "lamb"}, "unknown optimizer"),
    ({"label_smoothing": 1.5}, "label_smoothing"),
    ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
])
def test_bad_recipes_are_user_errors(override, message):
    with pytest.raises(UserError, match=message):
        resolve_recipe("nb101", override)


def test_bad_config_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{epochs: 3")
    with pytest.raises(UserError, match="not valid JSON"):
        read_config(path)


def test_schedules_decay_by_step_to_zero():
    cosine = resolve_recipe("nb101")
    assert learning_rate(cosine, 0, 100) == pytest.approx(0.2)
    assert learning_rate(cosine, 50, 100) == pytest.approx(0.1)
    assert learning_rate(cosine, 100, 100) == pytest.approx(0.0)
    linear = resolve_recipe("shufflenet")
    assert learning_rate(linear, 25, 100) == pytest.approx(0.375)


def test_rmsprop_tf_follows_tensorflow_semantics():
    """ms starts at 1 and epsilon sits inside the square root (TF1's RMSPropOptimizer)."""
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = RMSpropTF([w], lr=0.2, rho=0.9, momentum=0.9, eps=1.0, weight_decay=1e-4)
    grads = [np.array([0.5, -3.0]), np.array([-1.0, 2.0])]
    ref_w, ms, mom = np.array([1.0, -2.0]), np.ones(2), np.zeros(2)
    for g in grads:
        w.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        g = g + 1e-4 * ref_w
        ms = 0.9 * ms + 0.1 * g * g
        mom = 0.9 * mom + 0.2 * g / np.sqrt(ms + 1.0)
        ref_w = ref_w - mom
    np.testing.assert_allclose(w.detach().numpy(), ref_w, rtol=1e-6)
    # and it is not what torch.optim.RMSprop does with the same numbers
    v = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    torch_opt = torch.optim.RMSprop([v], lr=0.2, alpha=0.9, momentum=0.9, eps=1.0, weight_decay=1e-4)
    for g in grads:
        v.grad = torch.tensor(g, dtype=torch.float32)
        torch_opt.step()
    assert not math.isclose(float(v.detach()[0]), float(w.detach()[0]), rel_tol=1e-3)
