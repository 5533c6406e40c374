"""The space contract's conveniences: `size()` is a named (count, exact) pair, and every drawing method
takes a Generator, an int seed or None (a clear TypeError otherwise), in built-in and plugin spaces."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.spaces import SPACES
from samplenas.spaces.base import SearchSpace, SpaceSize, as_generator


@pytest.mark.parametrize("name", ["nb101", "nasnet", "shufflenet", "autoencoder"])
def test_size_is_a_named_count_and_exactness(name):
    size = SPACES[name]().size()
    assert isinstance(size, SpaceSize) and size.count > 1 and size.exact is True
    count, exact = size  # still unpacks as the pair it always was
    assert (count, exact) == (size.count, size.exact)


@pytest.mark.parametrize("name", ["nb101", "nasnet", "shufflenet", "autoencoder"])
def test_an_int_seed_draws_as_a_generator_of_that_seed(name):
    space = SPACES[name]()
    assert space.sample(7) == space.sample(np.random.default_rng(7))
    assert space.sample_uniform(7) == space.sample_uniform(np.random.default_rng(7))
    a, b = space.sample(1), space.sample(2)
    assert space.mutate(a, 3) == space.mutate(a, np.random.default_rng(3)) == space.mutate(a, rng=3)
    assert space.crossover(a, b, 4) == space.crossover(a, b, np.random.default_rng(4))
    assert space.is_valid(space.sample(None))


def test_a_generator_is_used_as_it_is():
    rng = np.random.default_rng(0)
    assert as_generator(rng) is rng
    space = SPACES["shufflenet"]()
    first, second = space.sample(rng), space.sample(rng)
    again = np.random.default_rng(0)
    assert (first, second) == (space.sample(again), space.sample(again))  # the caller's stream advances


@pytest.mark.parametrize("bad", ["0", 1.5, True, np.random.RandomState(0)])
def test_anything_else_is_a_type_error_that_says_what_to_pass(bad):
    with pytest.raises(TypeError, match="numpy.random.Generator, an int seed or None"):
        SPACES["nb101"]().sample(bad)


def test_a_space_defined_elsewhere_takes_seeds_too():
    class Coin(SearchSpace):
        name, dims = "coin", (2,)

        def size(self):
            return SpaceSize(2, True)

        def validate(self, arch):
            return self.check_encoding(arch)

        def sample(self, rng):
            return (int(rng.integers(2)),)

        def mutate(self, arch, rng):
            return (1 - arch[0],)

        def crossover(self, a, b, rng):
            return a if rng.random() < 0.5 else b

        def to_str(self, arch):
            return str(arch[0])

        def from_str(self, text):
            return (int(text),)

    coin = Coin()
    assert coin.sample(5) == coin.sample(np.random.default_rng(5))
    assert coin.sample_from_probs([np.array([0.0, 1.0])], 1) == (1,)
