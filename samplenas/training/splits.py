"""Seeded, class-stratified draws from a data set: the validation split held out of the training set,
and smaller subsets (quick runs, low-data studies)."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset, Subset

from samplenas.training.tensor_images import TensorImages


def hold_out(dataset: Dataset, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A seeded, class-stratified validation split. Validation keeps the interleaved order of
    `stratified_order`, so any prefix of it (evaluation takes the first N) covers the classes in
    proportion even when the source is sorted by class (ImageFolder)."""
    order = stratified_order(class_labels(dataset), seed)
    n_val = max(1, int(round(val_fraction * len(dataset))))
    return take(dataset, np.sort(order[n_val:])), take(dataset, order[:n_val])


def limit_examples(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    """At most `limit` examples, a seeded class-stratified draw (not the first N: sorted sets)."""
    if limit is None or limit >= len(dataset):
        return dataset
    return take(dataset, np.sort(stratified_order(class_labels(dataset), seed + 1)[: int(limit)]))


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded permutation of range(len(labels)) whose every prefix is class-stratified: each class is
    shuffled and its k-th member placed at fraction (k + u) / n_class of the way, classes interleaved."""
    rng = np.random.default_rng([seed, 11])
    labels = np.asarray(labels)
    position = np.empty(len(labels), dtype=np.float64)
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        shuffled = rng.permutation(members)
        position[shuffled] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    return np.argsort(position, kind="stable")


def class_labels(dataset: Dataset) -> np.ndarray:
    """Class labels without loading images (TensorImages, ImageFolder/CIFAR `targets`, Subsets);
    datasets without labels (none here today) get one class, i.e. a plain seeded permutation."""
    if isinstance(dataset, TensorImages):
        return dataset.labels.cpu().numpy()
    if isinstance(dataset, Subset):
        return class_labels(dataset.dataset)[np.asarray(dataset.indices, dtype=np.int64)]
    for name in ("targets", "labels"):  # torchvision: ImageFolder/CIFAR10 `targets`, STL10 `labels`
        if getattr(dataset, name, None) is not None:
            return np.asarray(getattr(dataset, name))
    return np.zeros(len(dataset), dtype=np.int64)


def take(dataset: Dataset, indices: np.ndarray) -> Dataset:
    if isinstance(dataset, TensorImages):
        return dataset.subset(indices)
    return Subset(dataset, indices.tolist())
