"""The ShuffleNet chain space: encoding, text form, SPOS sampling/mutation/crossover statistics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from samplenas.errors import UserError
from samplenas.spaces import SPACES, InvalidArchitecture
from samplenas.spaces.shufflenet import CHOICES, ShuffleNetSpace

SPACE = ShuffleNetSpace()
archs = st.lists(st.integers(0, 3), min_size=20, max_size=20).map(tuple)
seeds = st.integers(0, 2**32 - 1)


def test_registry_and_structure():
    space = SPACES["shufflenet"]()
    assert isinstance(space, ShuffleNetSpace)
    assert space.dims == (4,) * 20
    assert space.size() == (4**20, True)
    names = space.position_names()
    assert names[:5] == ["s0.l0", "s0.l1", "s0.l2", "s0.l3", "s1.l0"]
    assert names[8] == "s2.l0" and names[15] == "s2.l7" and names[16] == "s3.l0" and names[-1] == "s3.l3"
    assert len(set(names)) == 20
    assert space.choice_names(7) == list(CHOICES)


@pytest.mark.parametrize(
    "arch, words",
    [
        ((0,) * 19, "19 positions"),
        ((0,) * 21, "21 positions"),
        ((0,) * 19 + (4,), "choice 4 at position 19 (s3.l3)"),
        ((-1,) + (0,) * 19, "choice -1 at position 0 (s0.l0)"),
        ("abc", "sequence of ints"),
    ],
)
def test_validate_rejects_with_clear_message(arch, words):
    with pytest.raises(InvalidArchitecture, match=words.replace("(", r"\(").replace(")", r"\)")):
        SPACE.validate(arch)
    assert not SPACE.is_valid(arch)


@given(archs)
def test_every_in_range_encoding_is_valid_and_keyed_by_its_indices(arch):  # round trips: test_contract.py
    assert SPACE.validate(arch) == arch
    assert SPACE.key(arch) == ",".join(map(str, arch))


def test_text_form_is_readable():
    arch = (0, 1, 2, 3) + (0,) * 4 + (3,) * 8 + (2, 2, 1, 1)
    text = SPACE.to_str(arch)
    assert text == "3x3,5x5,7x7,xc3|3x3,3x3,3x3,3x3|" + ",".join(["xc3"] * 8) + "|7x7,7x7,5x5,5x5"
    long_form = text.replace("xc3", "xception_3x3").replace("3x3,", "shuffle_3x3,", 1)
    assert SPACE.from_str(long_form.upper()) == arch


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "expected 4 stages"),
        ("3x3,3x3,3x3,3x3", "expected 4 stages"),
        ("3x3,3x3,3x3|3x3,3x3,3x3,3x3|" + ",".join(["3x3"] * 8) + "|3x3,3x3,3x3,3x3", "stage 0 has 3 layers"),
        ("3x3,3x3,3x3,9x9|3x3,3x3,3x3,3x3|" + ",".join(["3x3"] * 8) + "|3x3,3x3,3x3,3x3", "unknown choice '9x9'"),
        ("not an architecture", "expected 4 stages"),
    ],
)
def test_from_str_rejects_garbage(text, words):
    with pytest.raises(InvalidArchitecture, match=words):
        SPACE.from_str(text)


@given(archs, seeds)
def test_mutate_always_changes_something(arch, seed):
    assert SPACE.mutate(arch, np.random.default_rng(seed)) != arch


def test_variation_rejects_invalid_parents():
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidArchitecture):
        SPACE.mutate((5,) * 20, rng)
    with pytest.raises(InvalidArchitecture):
        SPACE.crossover((0,) * 20, (0,) * 19, rng)


def test_uniform_sampling_frequencies():
    """4000 samples: every choice at every layer has frequency 1/4 within 0.04 (about 6 sigma)."""
    rng = np.random.default_rng(1234)
    draws = np.array([SPACE.sample(rng) for _ in range(4000)])
    freq = np.stack([(draws == c).mean(axis=0) for c in range(4)])  # (choice, layer)
    assert np.all(np.abs(freq - 0.25) < 0.04), freq
    assert np.array_equal(draws[0], SPACE.sample_uniform(np.random.default_rng(1234)))


def test_mutation_rate_matches_spos_rule():
    """Each layer is re-drawn with p=0.1 and so changes with p=0.075, plus one forced change
    when nothing changed (probability 0.925^20 = 0.21): about 1.71 changed layers per mutation."""
    rng = np.random.default_rng(7)
    parent = (0,) * 20
    changed = [sum(c != 0 for c in SPACE.mutate(parent, rng)) for _ in range(3000)]
    expected = 20 * 0.075 + 0.925**20
    assert abs(np.mean(changed) - expected) < 0.1
    assert max(changed) > 2  # re-draws are independent, not a single-layer tweak


def test_mutation_prob_setting():
    rng = np.random.default_rng(3)
    everything = ShuffleNetSpace(mutation_prob=1.0)
    changed = np.mean([sum(c != 0 for c in everything.mutate((0,) * 20, rng)) for _ in range(500)])
    assert abs(changed - 15) < 0.6  # each layer lands on a different choice with p=3/4
    with pytest.raises(UserError, match="mutation_prob"):
        ShuffleNetSpace(mutation_prob=0.0)


def test_crossover_takes_half_from_each_parent():
    rng = np.random.default_rng(11)
    a, b = (0,) * 20, (1,) * 20
    from_a = np.mean([np.mean(np.array(SPACE.crossover(a, b, rng)) == 0) for _ in range(2000)])
    assert abs(from_a - 0.5) < 0.02
