"""Every sampler x every space: valid samples, determinism for a seed, exact resume."""

from __future__ import annotations

import pytest

from samplenas.errors import UserError


def test_samples_are_valid(sampler_name, space, make_sampler, score, run_rounds):
    sampler = make_sampler(sampler_name, space, seed=1)
    for arch in run_rounds(sampler, score, rounds=3):
        assert space.validate(arch) == arch
        assert all(isinstance(c, int) for c in arch)


def test_same_seed_same_stream(sampler_name, space, make_sampler, score, run_rounds):
    a = run_rounds(make_sampler(sampler_name, space, seed=3), score, rounds=3)
    b = run_rounds(make_sampler(sampler_name, space, seed=3), score, rounds=3)
    c = run_rounds(make_sampler(sampler_name, space, seed=4), score, rounds=3)
    assert a == b
    assert a != c


def test_resume_after_state_round_trip(sampler_name, space, make_sampler, score, reload, run_rounds):
    original = make_sampler(sampler_name, space, seed=5)
    run_rounds(original, score, rounds=2)
    state = reload(original.state_dict())
    expected = run_rounds(original, score, rounds=2)

    resumed = make_sampler(sampler_name, space, seed=99)  # the state, not the constructor seed, decides
    resumed.load_state_dict(state)
    assert run_rounds(resumed, score, rounds=2) == expected


def test_bad_feedback_is_a_clear_error(sampler_name, space, make_sampler):
    sampler = make_sampler(sampler_name, space)
    archs = sampler.sample(2)[:2]  # fair returns a whole group
    with pytest.raises(UserError, match="2 architectures but 1 scores"):
        sampler.observe(archs, [1.0])
    with pytest.raises(UserError, match="finite"):
        sampler.observe(archs, [1.0, float("nan")])
