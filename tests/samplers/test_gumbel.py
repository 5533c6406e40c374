"""Logit samplers: straight-through gates, validation-loss learning, temperature schedule, entropy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samplenas.errors import UserError
from samplenas.samplers.gumbel import GumbelSampler, MultinomialSampler, draw_categorical
from samplenas.spaces import SPACES


@pytest.mark.parametrize("cls", [GumbelSampler, MultinomialSampler])
def test_gates_are_one_forward_and_carry_gradient(cls, space):
    sampler = cls(space, seed=0)
    arch, gates = sampler.sample_with_gates()
    assert space.is_valid(arch)
    assert gates.shape == (len(space.dims),)
    assert torch.allclose(gates.detach(), torch.ones(len(space.dims)))
    gates.sum().backward()
    assert sampler.logits.grad is not None and sampler.logits.grad.abs().sum() > 0


@pytest.mark.parametrize("cls", [GumbelSampler, MultinomialSampler])
def test_validation_loss_gradients_move_the_logits(cls):
    """A stand-in supernet whose loss falls when choice 1 is gated in: p(choice 1) must rise."""
    space = SPACES["shufflenet"]()
    sampler = cls(space, seed=0, lr=0.1)
    before = sampler.probs()[:, 1].mean()
    for _ in range(60):
        arch, gates = sampler.sample_with_gates()
        reward = torch.tensor([float(c == 1) for c in arch])
        (-(gates * reward).sum()).backward()
        sampler.step()
    assert sampler.probs()[:, 1].mean() > before + 0.2


def test_temperature_anneals_linearly():
    sampler = GumbelSampler(SPACES["shufflenet"](), tau_max=5.0, tau_min=1.0, tau_steps=4)
    taus = []
    for _ in range(6):
        taus.append(sampler.tau)
        sampler.step()
    assert taus == pytest.approx([5.0, 4.0, 3.0, 2.0, 1.0, 1.0])


def test_entropy_starts_at_uniform_and_falls_with_learning(score):
    space = SPACES["shufflenet"]()
    sampler = MultinomialSampler(space, seed=0)
    assert sampler.entropy() == pytest.approx(20 * np.log(4))
    for _ in range(20):
        archs = sampler.sample(16)
        sampler.observe(archs, [score(a) for a in archs])
    assert sampler.entropy() < 20 * np.log(4) - 1


def test_draw_categorical_follows_the_probabilities():
    probs = np.array([[0.1, 0.9, 0.0], [0.5, 0.25, 0.25]])
    rng = np.random.default_rng(0)
    draws = np.array([draw_categorical(probs, rng) for _ in range(4000)])
    assert np.mean(draws[:, 0] == 1) == pytest.approx(0.9, abs=0.02)
    assert np.mean(draws[:, 1] == 0) == pytest.approx(0.5, abs=0.03)
    assert not np.any(draws[:, 0] == 2)


def test_bad_settings_are_clear_errors():
    with pytest.raises(UserError, match="tau_min"):
        GumbelSampler(SPACES["shufflenet"](), tau_min=2.0, tau_max=1.0)
