"""The modular autoencoder space: encoding, validity, codec, sampling distributions, variation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from samplenas.spaces import SPACES, InvalidArchitecture
from samplenas.spaces.autoencoder import DROPOUT, EMPTY, AutoencoderSpace

MAX_LAYERS = 10
SPACE = AutoencoderSpace()


@st.composite
def archs(draw, max_layers: int = MAX_LAYERS):
    layers = draw(st.lists(st.integers(1, DROPOUT), min_size=1, max_size=max_layers))
    return tuple(layers) + (EMPTY,) * (max_layers - len(layers))


def active(arch):
    return [c for c in arch if c != EMPTY]


def test_registered_with_the_canonical_encoding():
    space = SPACES["autoencoder"]()
    assert space.dims == (18,) * 10
    assert space.num_reductions == 2
    assert space.position_names()[0] == "layer1" and len(space.position_names()) == 10
    names = space.choice_names(0)
    assert names[0] == "empty" and names[17] == "dropout2d"
    assert names[1] == "1x1conv2d:8" and names[4] == "1x1conv2d:64"
    assert names[5] == "3x3conv2d:8" and names[16] == "7x7conv2d:64"


def test_size_counts_every_length_exactly():
    assert SPACE.size() == (sum(17**n for n in range(1, 11)), True)
    tiny = AutoencoderSpace(max_layers=2)
    brute = sum(tiny.is_valid((a, b)) for a in range(18) for b in range(18))
    assert tiny.size() == (brute, True) == (17 + 17 * 17, True)


@pytest.mark.parametrize(
    "arch, message",
    [
        ((1,) * 9, "9 positions, expected 10"),
        ((18,) + (0,) * 9, "out of range 0..17"),
        ((-1,) + (0,) * 9, "out of range"),
        ((0,) * 10, "no layers"),
        ((5, 0, 7) + (0,) * 7, "layer 2 is empty but layer 3 is not"),
        ((0, 3) + (0,) * 8, "layer 1 is empty"),
    ],
)
def test_validate_rejects_with_a_reason(arch, message):
    with pytest.raises(InvalidArchitecture, match=message):
        SPACE.validate(arch)
    assert not SPACE.is_valid(arch)


def test_paper_examples_parse_to_the_encoding():
    assert SPACE.from_str("5x5conv2d:16,3x3conv2d:32,3x3conv2d:32") == (10, 7, 7) + (0,) * 7
    # Table 3's greyscale module, 16-3x3conv2d - Dropout2D - 32-1x1conv2d, in the readable form
    assert SPACE.from_str("3x3conv2d:16,dropout2d,1x1conv2d:32") == (6, 17, 3) + (0,) * 7
    assert SPACE.to_str((1, 16, 17) + (0,) * 7) == "1x1conv2d:8,7x7conv2d:64,dropout2d"
    assert SPACE.from_str(" 7x7conv2d:64 , dropout2d ") == (16, 17) + (0,) * 8


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty architecture string"),
        ("   ", "empty architecture string"),
        ("maxpool2d", "unknown layer type"),
        ("3x3conv2d:16,,dropout2d", "layer 2 '': unknown layer type"),
        ("2x2conv2d:16", "kernel 2x2 not allowed"),
        ("3x5conv2d:16", "kernel 3x5 not allowed"),
        ("9x9conv2d:16", "kernel 9x9 not allowed"),
        ("3x3conv2d:12", "filter count must be one of 8/16/32/64"),
        ("3x3conv2d", "filter count"),
        ("3x3conv2d:abc", "filter count"),
        ("dropout2d:16", "takes no kernel or filter count"),
        (",".join(["dropout2d"] * 11), "11 layers, at most 10"),
    ],
)
def test_from_str_rejects_garbage_saying_what_is_wrong(text, message):
    with pytest.raises(InvalidArchitecture, match=message):
        SPACE.from_str(text)


@given(archs())
def test_valid_encodings_validate_and_round_trip_through_text(arch):
    assert SPACE.validate(arch) == arch
    text = SPACE.to_str(arch)
    assert len(text.split(",")) == len(active(arch))
    assert SPACE.from_str(text) == arch
    assert SPACE.parse(text) == arch
    assert SPACE.parse(",".join(map(str, arch))) == arch
    assert SPACE.key(arch) == SPACE.key(SPACE.from_str(text))


@given(archs(), st.integers(0, 2**32 - 1))
@settings(max_examples=200)
def test_mutate_appends_or_replaces_exactly_one_layer(arch, seed):
    child = SPACE.mutate(arch, np.random.default_rng(seed))
    assert SPACE.is_valid(child)
    parent_layers, child_layers = active(arch), active(child)
    if len(child_layers) == len(parent_layers) + 1:
        assert child_layers[:-1] == parent_layers
    else:
        assert len(child_layers) == len(parent_layers)
        assert sum(p != c for p, c in zip(parent_layers, child_layers)) == 1


@given(archs(), archs(), st.integers(0, 2**32 - 1))
@settings(max_examples=200)
def test_crossover_splices_a_prefix_of_one_parent_to_a_suffix_of_the_other(a, b, seed):
    child = SPACE.crossover(a, b, np.random.default_rng(seed))
    assert SPACE.is_valid(child)
    first, second, layers = active(a), active(b), active(child)
    splices = [
        (first[:i] + second[j:])[:MAX_LAYERS] for i in range(len(first)) for j in range(len(second))
    ]
    assert layers in splices


def test_mutation_appends_half_the_time_below_the_limit():
    rng = np.random.default_rng(1)
    short = SPACE.from_str("3x3conv2d:16,dropout2d")
    appended = sum(len(active(SPACE.mutate(short, rng))) == 3 for _ in range(4000))
    assert abs(appended / 4000 - 0.5) < 0.04
    full = SPACE.from_str(",".join(["dropout2d"] * MAX_LAYERS))
    assert all(len(active(SPACE.mutate(full, rng))) == MAX_LAYERS for _ in range(200))


def test_crossover_truncates_to_the_layer_limit():
    rng = np.random.default_rng(2)
    long = SPACE.from_str(",".join(["1x1conv2d:8"] * MAX_LAYERS))
    other = SPACE.from_str(",".join(["dropout2d"] * MAX_LAYERS))
    lengths = {len(active(SPACE.crossover(long, other, rng))) for _ in range(300)}
    assert max(lengths) == MAX_LAYERS  # e.g. 9 + 10 layers were cut back to 10


def test_sample_follows_the_papers_random_search_rule():
    """Length ~ U{1..L}; a layer is dropout w.p. 1/5 and each conv option w.p. 1/20."""
    rng = np.random.default_rng(3)
    samples = [SPACE.sample(rng) for _ in range(6000)]
    assert all(SPACE.is_valid(a) for a in samples)
    lengths = np.bincount([len(active(a)) for a in samples], minlength=MAX_LAYERS + 1)[1:]
    assert chisquare(lengths).pvalue > 1e-3
    choices = np.bincount([c for a in samples for c in active(a)], minlength=DROPOUT + 1)[1:]
    expected = np.array([1 / 20] * 16 + [1 / 5]) * choices.sum()
    assert chisquare(choices, expected).pvalue > 1e-3
    # the same counts are far from uniform over the 17 options: the test can tell them apart
    assert chisquare(choices).pvalue < 1e-6


def test_sample_uniform_is_uniform_over_distinct_architectures():
    space = AutoencoderSpace(max_layers=2)  # 306 architectures, every one countable
    rng = np.random.default_rng(4)
    draws = [space.sample_uniform(rng) for _ in range(30600)]
    index = {arch: i for i, arch in enumerate(a for a in np.ndindex(18, 18) if space.is_valid(a))}
    counts = np.bincount([index[arch] for arch in draws], minlength=len(index))
    assert len(index) == space.size()[0]
    assert chisquare(counts).pvalue > 1e-3
    lengths = np.bincount([len(active(a)) for a in draws])[1:]
    assert chisquare(lengths, np.array([17, 289]) / 306 * len(draws)).pvalue > 1e-3


def test_constructor_settings():
    space = AutoencoderSpace(max_layers=3, num_reductions=3)
    assert space.dims == (18,) * 3 and space.num_reductions == 3
    with pytest.raises(ValueError, match="max_layers"):
        AutoencoderSpace(max_layers=0)
    with pytest.raises(ValueError, match="num_reductions"):
        AutoencoderSpace(num_reductions=-1)


def test_operation_count_leaves_out_empty_layers():
    assert SPACE.operation_count(SPACE.from_str("3x3conv2d:16,dropout2d,1x1conv2d:32")) == 3
    assert SPACE.operation_count(SPACE.from_str("7x7conv2d:64")) == 1
