"""Algorithm 2's mixture: ε schedule, the share of learned draws, forwarding feedback."""

from __future__ import annotations

import pytest

from samplenas.errors import UserError
from samplenas.samplers.evolution import EvolutionSampler
from samplenas.samplers.mixture import MixtureSampler, ramp_increment
from samplenas.spaces import SPACES


def test_epsilon_rises_per_sample_call_and_is_capped():
    sampler = MixtureSampler(SPACES["shufflenet"](), inner="multinomial", epsilon_inc=0.4, epsilon_max=0.9)
    seen = []
    for _ in range(4):
        seen.append(sampler.epsilon)
        sampler.sample(2)
    assert seen == pytest.approx([0.0, 0.4, 0.8, 0.9])


def test_epsilon_zero_never_asks_the_inner_sampler_and_one_always_does():
    space = SPACES["nb101"]()
    uniform = MixtureSampler(space, seed=2, inner="evolution", epsilon_inc=0.0)
    uniform.sample(6)
    assert uniform.inner.init_issued == 0
    learned = MixtureSampler(space, seed=2, inner="evolution", epsilon=1.0)
    assert learned.sample(6) == EvolutionSampler(space, seed=3).sample(6)


def test_feedback_reaches_the_inner_sampler():
    space = SPACES["nb101"]()
    sampler = MixtureSampler(space, inner="evolution")
    archs = sampler.sample(3)
    sampler.observe(archs, [1.0, 2.0, 3.0])
    assert sampler.inner.best() == (archs[2], 3.0)


def test_inner_must_be_a_learned_sampler():
    with pytest.raises(UserError, match="learned sampler"):
        MixtureSampler(SPACES["nb101"](), inner="fair")


def test_the_ramp_increment_spans_the_share_of_the_steps():
    assert ramp_increment(0.5, 1000) == 1.0 / 500
    assert ramp_increment(1.0, 10, epsilon=0.2, epsilon_max=0.7) == pytest.approx(0.05)
    for fraction, steps in ((0.0, 10), (1.5, 10), (0.5, 0)):
        with pytest.raises(UserError, match="the ramp needs"):
            ramp_increment(fraction, steps)
