"""Seeded class-stratified orders, the base of every validation split and subset."""

from __future__ import annotations

import numpy as np

from samplenas.training.splits import stratified_order


def test_stratified_order_prefixes_are_balanced():
    labels = np.repeat(np.arange(4), [100, 100, 100, 300])  # sorted by class, one class three times as common
    order = stratified_order(labels, seed=0)
    assert sorted(order.tolist()) == list(range(600))
    for n in (12, 60, 240):
        counts = np.bincount(labels[order[:n]], minlength=4)
        expected = n * np.array([1, 1, 1, 3]) / 6
        assert np.all(np.abs(counts - expected) <= 2), (n, counts)
    assert not np.array_equal(order, stratified_order(labels, seed=1))
