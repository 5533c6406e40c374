"""A supernet run's sampler: the mixture `epsilon_inc` or `epsilon_ramp` asks for, its proxy filters'
scorers, its learned part, the statistics logged."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.errors import UserError
from samplenas.samplers import SAMPLERS
from samplenas.spaces import SPACES
from samplenas.supernet.factory import make_supernet, network_settings
from samplenas.training.data import load_dataset
from samplenas.training.recipes import Recipe
from samplenas.training.supernet_sampler import attach_proxies, learned_part, make_sampler, sampler_stats
from samplenas.training.tasks import make_task
from samplenas.training.train_config import TrainConfig
from samplenas.training.zero_cost import ZeroCostScorer, proxy_batch


def test_epsilon_inc_wraps_the_sampler_in_a_mixture_the_trainer_steps():
    space = SPACES["nb101"]()
    plain = make_sampler(TrainConfig(space="nb101", sampler="multinomial"), space)
    assert learned_part(plain) is plain and "epsilon" not in sampler_stats(plain)
    mixed = make_sampler(TrainConfig(space="nb101", sampler="multinomial", epsilon_inc=0.25), space)
    assert isinstance(learned_part(mixed), SAMPLERS["multinomial"]) and learned_part(mixed) is not mixed
    assert mixed.auto_step is False  # the trainer raises epsilon once per training step, not per draw
    assert "epsilon" in sampler_stats(mixed) and "entropy" in sampler_stats(mixed)


def test_epsilon_ramp_reaches_the_maximum_after_that_share_of_the_steps():
    space = SPACES["nb101"]()
    mixed = make_sampler(TrainConfig(space="nb101", sampler="vae", epsilon_ramp=0.5, steps=1757), space)
    assert mixed.epsilon_inc == 2.0 / 1757 and mixed.epsilon == 0.0
    for _ in range(878):
        mixed.step()
    assert 0.99 < mixed.epsilon < 1.0
    mixed.step()
    assert mixed.epsilon == 1.0  # step 879 of 1757: half the run
    own = make_sampler(TrainConfig(space="nb101", sampler="mixture", epsilon_ramp=0.25, steps=100,
                                   sampler_options={"inner": "multinomial", "epsilon": 0.2, "epsilon_max": 0.7}), space)
    assert own.epsilon_inc == pytest.approx(0.5 / 25) and own.epsilon == 0.2  # from its own start to its own max


def test_epsilon_inc_and_epsilon_ramp_are_one_or_the_other():
    with pytest.raises(UserError, match="give one of them"):
        TrainConfig(space="nb101", sampler="vae", epsilon_inc=0.01, epsilon_ramp=0.5).check()
    own_schedule = {"inner": "multinomial", "epsilon_inc": 0.3}
    with pytest.raises(UserError, match="the mixture's epsilon_inc option and epsilon_inc/epsilon_ramp"):
        TrainConfig(space="nb101", sampler="mixture", epsilon_ramp=0.5, sampler_options=own_schedule).check()
    with pytest.raises(UserError, match="leave the mixture's auto_step option off"):
        TrainConfig(space="nb101", sampler="mixture", epsilon_ramp=0.5,
                    sampler_options={"inner": "multinomial", "auto_step": True}).check()
    TrainConfig(space="nb101", sampler="mixture", sampler_options=own_schedule).check()  # its own schedule alone


def test_a_bad_sampler_option_is_one_line():
    with pytest.raises(UserError, match="sampler 'uniform': bad option"):
        make_sampler(TrainConfig(space="nb101", sampler="uniform", sampler_options={"temperature": 2}), None)


def test_a_proxy_filter_inside_a_mixture_gets_the_zero_cost_scorer_and_is_the_learned_part():
    data = load_dataset("digits", splits=("train",))
    supernet = make_supernet("nb101", network_settings("nb101", {"stem_channels": 6, "num_stacks": 1,
                                                                 "cells_per_stack": 1}, data.info))
    task = make_task(Recipe(epochs=1, batch_size=16, network={}), data.info)
    config = TrainConfig(space="nb101", sampler="proxy-filter", epsilon_inc=0.5, seed=2,
                         sampler_options={"proxy": "synflow", "pool": 3, "batch_size": 8})
    sampler = attach_proxies(make_sampler(config, supernet.space), supernet, task, data.train, config.seed)
    filtered = learned_part(sampler)
    assert sampler.name == "mixture" and filtered is sampler.inner and filtered.name == "proxy-filter"
    reference = ZeroCostScorer("synflow", supernet, task, proxy_batch(data.train, 8, 2), seed=2)
    archs = [supernet.space.sample_uniform(np.random.default_rng(i)) for i in range(3)]
    assert [filtered.score(a) for a in archs] == [reference.score(a)["score"] for a in archs]
    assert "epsilon" in sampler_stats(sampler)
