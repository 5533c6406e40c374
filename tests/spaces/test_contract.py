"""Every registered search space keeps the contract samplers, supernets and searches rely on:
valid draws and variations, a text form that round-trips, a key that names the architecture, and
encodings out of range refused with InvalidArchitecture."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samplenas.spaces import SPACES, InvalidArchitecture

SPACE_NAMES = SPACES.names()
seeds = st.integers(0, 2**32 - 1)


@pytest.fixture(params=SPACE_NAMES, scope="module")
def space(request):
    return SPACES[request.param]()


def test_every_space_is_registered():
    assert set(SPACE_NAMES) >= {"autoencoder", "nasnet", "nb101", "shufflenet"}


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_sample_mutate_crossover_stay_valid(space, seed):
    rng = np.random.default_rng(seed)
    a, b = space.sample(rng), space.sample(rng)
    assert space.validate(a) == a and space.validate(b) == b
    assert all(isinstance(c, int) for c in a)
    child = space.mutate(a, rng)
    assert space.is_valid(child) and child != a  # a mutation always changes the encoding
    assert space.is_valid(space.crossover(a, b, rng))
    assert space.is_valid(space.sample_uniform(rng))


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_text_form_and_choice_indices_round_trip(space, seed):
    arch = space.sample(np.random.default_rng(seed))
    text = space.to_str(arch)
    assert space.from_str(text) == arch
    assert space.parse(text) == arch
    assert space.parse(",".join(map(str, arch))) == arch


def test_key_is_deterministic_and_tells_draws_apart(space):
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(30)]
    keys = [space.key(a) for a in archs]
    assert keys == [space.key(tuple(a)) for a in archs] and all(isinstance(k, str) and k for k in keys)
    assert len(set(keys)) > 1


def test_features_are_a_fixed_length_zero_one_vector(space):
    rng = np.random.default_rng(1)
    vectors = [space.features(space.sample(rng)) for _ in range(5)]
    assert len({v.shape for v in vectors}) == 1 and vectors[0].ndim == 1
    assert all(set(np.unique(v)) <= {0.0, 1.0} for v in vectors)


def test_out_of_range_and_wrong_length_encodings_are_refused(space):
    arch = space.sample(np.random.default_rng(2))
    too_big = (space.dims[0],) + arch[1:]
    for bad in (arch[:-1], arch + (0,), too_big, (-1,) + arch[1:]):
        with pytest.raises(InvalidArchitecture, match=space.name):
            space.validate(bad)
        assert not space.is_valid(bad)
    with pytest.raises(InvalidArchitecture):
        space.from_str("not an architecture")


def test_operation_count_counts_at_most_every_position(space):
    rng = np.random.default_rng(3)
    for arch in (space.sample(rng) for _ in range(10)):
        count = space.operation_count(arch)
        assert isinstance(count, int) and 0 <= count <= len(arch)
