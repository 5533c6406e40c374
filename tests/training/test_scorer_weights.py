import math

import numpy as np
import pytest
from scipy import stats

from samplenas.errors import UserError
from samplenas.training.scorer_weights import fit_rank_weights, grid_step, simplex_grid, weighted_name
from samplenas.training.scorers import scorer_name, scorer_parts, scorer_weights
from samplenas.training.zero_cost import combined_ranks


def test_simplex_grid_holds_every_weight_vector_once():
    grid = simplex_grid(3, 0.25)
    assert len(grid) == math.comb(4 + 2, 2) == 15
    assert np.allclose(grid.sum(axis=1), 1.0) and (grid >= 0).all()
    assert len({tuple(row) for row in grid.round(6)}) == len(grid)
    assert [1.0, 0.0, 0.0] in grid.tolist() and [0.25, 0.5, 0.25] in grid.tolist()


def test_grid_step_coarsens_only_when_the_grid_would_be_too_large():
    assert grid_step(2) == grid_step(4) == 0.05
    assert grid_step(9) > 0.05 and len(simplex_grid(9, grid_step(9))) <= 50_000


def test_the_fit_finds_the_informative_part_and_ignores_noise_and_a_reversed_one():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=60)
    informative = labels + rng.normal(scale=0.3, size=60)
    positions = {"noise": rng.normal(size=60), "good": informative, "backwards": -labels}
    weights, tau = fit_rank_weights(positions, labels)
    assert weights["good"] >= 0.9 and weights["backwards"] == 0.0
    assert math.isclose(sum(weights.values()), 1.0)
    assert tau >= stats.kendalltau(informative, labels).statistic - 1e-12


def test_the_fit_can_combine_two_halves_of_the_signal():
    """Each part sees half of what the labels are made of: together they rank better than either."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 80))
    labels = a + b
    weights, tau = fit_rank_weights({"a": a, "b": b}, labels)
    assert 0.3 <= weights["a"] <= 0.7
    assert tau > max(stats.kendalltau(a, labels).statistic, stats.kendalltau(b, labels).statistic)
    assert math.isclose(tau, stats.kendalltau(weights["a"] * a + weights["b"] * b, labels).statistic)


def test_ties_go_to_the_most_even_weights():
    labels = [1.0, 2.0, 3.0, 4.0]
    weights, tau = fit_rank_weights({"x": labels, "y": labels}, labels)
    assert weights == {"x": 0.5, "y": 0.5} and tau == 1.0


def test_the_fit_refuses_mismatched_or_too_few_labels():
    with pytest.raises(ValueError, match="one position per label"):
        fit_rank_weights({"x": [1, 2, 3], "y": [1, 2]}, [1, 2, 3])
    with pytest.raises(ValueError, match="at least 3"):
        fit_rank_weights({"x": [1, 2]}, [1, 2])


def test_weighted_combined_ranks_equal_the_rank_average_at_equal_weights():
    a, b = [1.0, 5.0, 3.0, 2.0], [4.0, 1.0, 2.0, 3.0]
    assert np.allclose(combined_ranks([a, b], [0.5, 0.5]), combined_ranks([a, b]))
    assert np.allclose(combined_ranks([a, b], [1.0, 0.0]), combined_ranks([a]))


def test_weighted_scorer_names_are_parsed_normalised_and_checked():
    assert scorer_weights("supernet+params") == {"supernet": 0.5, "params": 0.5}
    assert scorer_weights("1*supernet + 3*params") == {"supernet": 0.25, "params": 0.75}
    assert scorer_parts("0.2*supernet+0.8*params") == ["supernet", "params"]
    assert scorer_name("1*supernet+3*params") == "0.25*supernet+0.75*params"
    assert scorer_name("supernet + params") == "supernet+params"
    assert weighted_name({"supernet": 0.25, "params": 0.75}) == "0.25*supernet+0.75*params"
    for bad, message in (("0.2*supernet+params", "every part a weight"), ("x*supernet", "not a number"),
                         ("-1*supernet+2*params", ">= 0"), ("0*supernet+0*params", "sum to zero"),
                         ("1*zen", "unknown scorer 'zen'"), ("1*params+2*params", "twice")):
        with pytest.raises(UserError, match=message):
            scorer_weights(bad)


def test_cross_validated_tau_is_below_the_in_sample_fit_on_noise_and_near_it_on_signal():
    from samplenas.training.scorer_weights import cross_validated_tau

    rng = np.random.default_rng(2)
    labels = rng.normal(size=60)
    noise = {name: rng.normal(size=60) for name in "abc"}
    _, in_sample = fit_rank_weights(noise, labels)
    assert cross_validated_tau(noise, labels) < in_sample
    signal = {"a": labels + rng.normal(scale=0.5, size=60), "b": rng.normal(size=60)}
    _, in_sample = fit_rank_weights(signal, labels)
    assert in_sample - 0.15 < cross_validated_tau(signal, labels) <= in_sample + 1e-12
    with pytest.raises(ValueError, match="folds"):
        cross_validated_tau({"a": labels[:5]}, labels[:5], folds=5)


def test_the_weighted_objective_values_the_top_of_the_ranking_more():
    """Part `top` orders the best half right and the worst half backwards, part `bottom` the reverse: Kendall's
    tau cannot tell them apart, the weighted tau prefers `top`, and each objective's fit follows."""
    labels = np.arange(20, dtype=float)
    top = np.concatenate([labels[:10][::-1], labels[10:]])
    bottom = np.concatenate([labels[:10], labels[10:][::-1]])
    assert stats.kendalltau(top, labels).statistic == pytest.approx(stats.kendalltau(bottom, labels).statistic)
    weights, value = fit_rank_weights({"top": top, "bottom": bottom}, labels, objective="weighted")
    assert weights["top"] > weights["bottom"]
    combined = weights["top"] * top + weights["bottom"] * bottom
    assert value == pytest.approx(stats.weightedtau(combined, labels).statistic)
    with pytest.raises(ValueError, match="unknown objective"):
        fit_rank_weights({"top": top}, labels, objective="spearman")


def test_near_best_weights_span_the_flat_top_of_the_objective():
    from samplenas.training.scorer_weights import grid_values, near_best_weights

    labels = np.arange(12, dtype=float)
    same = {"x": labels, "y": labels}  # every mixture ranks perfectly: the whole simplex is best
    assert near_best_weights(grid_values(same, labels)) == {"x": [0.0, 1.0], "y": [0.0, 1.0]}
    rng = np.random.default_rng(3)
    pinned = {"signal": labels, "noise": rng.permutation(labels)}
    ranges = near_best_weights(grid_values(pinned, labels), tolerance=0.0)
    assert ranges["noise"][1] < 0.5 and ranges["signal"][0] > 0.5
