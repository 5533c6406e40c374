"""A supernet run's sampler: the mixture `epsilon_inc` asks for, its learned part, the statistics logged."""

from __future__ import annotations

import pytest

from samplenas.errors import UserError
from samplenas.samplers import SAMPLERS
from samplenas.spaces import SPACES
from samplenas.training.supernet_sampler import learned_part, make_sampler, sampler_stats
from samplenas.training.train_config import TrainConfig


def test_epsilon_inc_wraps_the_sampler_in_a_mixture_the_trainer_steps():
    space = SPACES["nb101"]()
    plain = make_sampler(TrainConfig(space="nb101", sampler="multinomial"), space)
    assert learned_part(plain) is plain and "epsilon" not in sampler_stats(plain)
    mixed = make_sampler(TrainConfig(space="nb101", sampler="multinomial", epsilon_inc=0.25), space)
    assert isinstance(learned_part(mixed), SAMPLERS["multinomial"]) and learned_part(mixed) is not mixed
    assert mixed.auto_step is False  # the trainer raises epsilon once per training step, not per draw
    assert "epsilon" in sampler_stats(mixed) and "entropy" in sampler_stats(mixed)


def test_a_bad_sampler_option_is_one_line():
    with pytest.raises(UserError, match="sampler 'uniform': bad option"):
        make_sampler(TrainConfig(space="nb101", sampler="uniform", sampler_options={"temperature": 2}), None)
