"""Learned samplers move toward higher scores on a synthetic objective; uniform does not."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.spaces import SPACES

LEARNED = {
    "multinomial": {},
    "gumbel": {},
    "evolution": {"population_size": 16, "tournament_size": 4},
    "vae": {"iters": 40, "hidden_dim": 32},
    "mixture": {"inner_options": {"iters": 40, "hidden_dim": 32}, "epsilon_inc": 0.1},
}


def mean_score_after_feedback(sampler, score, rounds=12, per_round=24):
    for _ in range(rounds):
        archs = sampler.sample(per_round)
        sampler.observe(archs, [score(a) for a in archs])
    return np.mean([score(a) for a in sampler.sample(200)])


@pytest.mark.parametrize("space_name", ["shufflenet", "nb101"])
@pytest.mark.parametrize("name", [*LEARNED, "uniform"])
def test_feedback_shifts_samples_toward_higher_scores(name, space_name, make_sampler, score):
    space = SPACES[space_name]()
    before = np.mean([score(a) for a in make_sampler("uniform", space, seed=0).sample(200)])
    after = mean_score_after_feedback(make_sampler(name, space, seed=0, **LEARNED.get(name, {})), score)
    if name == "uniform":  # the control: the same test must fail for a sampler that ignores feedback
        assert after < before + 1.0
    else:
        assert after > before + 1.0
