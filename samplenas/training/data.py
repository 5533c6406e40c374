"""Datasets by name, with a seeded validation split carved out of the training set.

`load_dataset(name, data_dir)` returns the train/val/test datasets and the metadata a supernet
needs (classes, channels, image size, normalisation). The validation split is always a held-out
part of the training set, never the test set, so search never sees test data. Every set is loaded
into memory as uint8 tensors (`TensorImages`); reading the files is left to `idx_files` (MNIST and
Fashion-MNIST), `image_archives` (the JPEG CIFAR-10 copy) and torchvision (CIFAR-10, STL-10), the
splits to `splits` and batching to `batches`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from samplenas.errors import UserError
from samplenas.training.choices import DATASETS
from samplenas.training.idx_files import IDX_LAYOUTS, IDX_STEMS, check_idx_source, find_idx, read_idx
from samplenas.training.image_archives import cifar10_jpeg_folder, decoded_image_folder
from samplenas.training.splits import hold_out, limit_examples
from samplenas.training.tensor_images import TensorImages

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.image_size, self.image_size)


@dataclass
class LoadedData:
    info: DatasetInfo
    train: Dataset | None = None
    val: Dataset | None = None
    test: Dataset | None = None

    def to(self, device: torch.device) -> LoadedData:
        """The splits held on `device` when it is a GPU (batches are then made there); as they are on CPU."""
        if torch.device(device).type == "cpu":
            return self
        return LoadedData(self.info, *(None if split is None else split.to(device)
                                       for split in (self.train, self.val, self.test)))


# Normalisation constants: the usual published per-channel statistics of each training set
# (digits' are computed at load time).
_STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar10-jpeg": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "stl10": ((0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713)),
}
NEEDS_DATA_DIR = frozenset(DATASETS) - {"digits"}


# --- public entry point -------------------------------------------------------------------------
def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    splits: Sequence[str] = SPLITS,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = False,
    image_size: int | None = None,
    augment: bool = False,
    limit: int | None = None,
    train_examples: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> LoadedData:
    """Datasets for `splits` plus metadata.

    val: a `val_fraction` share of the training set, a class-stratified draw seeded with `seed`
    (train is the rest). image_size: resize (default: native). augment: random crop and flip for the
    RGB training split. limit: keep at most this many examples per split, a seeded class-stratified
    draw (quick runs). train_examples: first draw this many of the training set (seeded, class-stratified,
    and for one seed each smaller draw inside every larger one), then hold validation out of them; the
    test set stays whole (low-data studies).
    cache_dir: where archives are extracted (default: $SAMPLENAS_CACHE or ~/.cache/samplenas).
    """
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise UserError(f"unknown split {bad[0]!r}; valid: {', '.join(SPLITS)}")
    if not 0 < val_fraction < 1:
        raise UserError(f"val_fraction must be in (0, 1), got {val_fraction}")
    root = None
    if name in NEEDS_DATA_DIR:
        if data_dir is None:
            raise UserError(f"dataset {name!r} needs --data-dir (the embedded 'digits' needs none)")
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise UserError(f"data directory {root} does not exist")
    if name == "digits":
        full_train, test, info = _digits(image_size)
    elif name in ("mnist", "fashion-mnist"):
        full_train, test, info = _idx_dataset(name, root, download, image_size)
    else:
        full_train, test, info = _rgb_dataset(name, root, download, image_size, cache_dir)
    if train_examples is not None and train_examples > len(full_train):
        raise UserError(f"--train-examples {train_examples} exceeds the {len(full_train)} training examples of {name}")
    train, val = hold_out(limit_examples(full_train, train_examples, seed), val_fraction, seed)
    if augment and info.in_channels == 3:  # the training split only: validation and test stay as they are
        train = train.augmented(full_train.images.shape[-1] // 8)
    chosen = {"train": train, "val": val, "test": test}
    out = LoadedData(info)
    for split in splits:
        setattr(out, split, limit_examples(chosen[split], limit, seed))
    return out


# --- digits (bundled with scikit-learn) ---------------------------------------------------------
def _digits(image_size: int | None):
    """sklearn's 1,797 8x8 handwritten digits (values 0..16); a fixed 20 % is the test set."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    order = np.random.default_rng(12345).permutation(len(labels))  # fixed: the test set never moves
    n_test = len(labels) // 5
    test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
    pixels = images[torch.as_tensor(train_idx)].float() / 16
    mean, std = (float(pixels.mean()),), (float(pixels.std()),)
    size = int(image_size or 8)
    full = TensorImages(images, labels, 1 / 16, mean, std, size)
    info = DatasetInfo("digits", 10, 1, size, mean, std)
    return full.subset(train_idx), full.subset(test_idx), info


# --- MNIST / Fashion-MNIST from idx files (gzipped or not) --------------------------------------
def _idx_dataset(name: str, root: Path, download: bool, image_size: int | None):
    paths = [find_idx(root, name, stem) for stem in IDX_STEMS]
    if any(p is None for p in paths) and download:
        import torchvision.datasets as tvd

        cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
        _torchvision_call(lambda: cls(str(root), train=True, download=True), name, root)
        paths = [find_idx(root, name, stem) for stem in IDX_STEMS]
    if any(p is None for p in paths):
        missing = IDX_STEMS[[p is None for p in paths].index(True)]
        raise UserError(f"{name}: {missing}[.gz] not found under {root}/{IDX_LAYOUTS[name][0]}, "
                        f"{root}/{IDX_LAYOUTS[name][1]} or {root} (pass --download to fetch it)")
    arrays = []
    for stem, path in zip(IDX_STEMS, paths):
        array = read_idx(path)
        check_idx_source(name, stem, path, array)
        arrays.append(torch.from_numpy(array.copy()))
    mean, std = _STATS[name]
    size = int(image_size or 28)
    train = TensorImages(arrays[0].unsqueeze(1), arrays[1], 1 / 255, mean, std, size)
    test = TensorImages(arrays[2].unsqueeze(1), arrays[3], 1 / 255, mean, std, size)
    return train, test, DatasetInfo(name, 10, 1, size, mean, std)


# --- RGB datasets, decoded once into uint8 tensors ---------------------------------------------
def _rgb_dataset(name: str, root: Path, download: bool, image_size: int | None, cache_dir):
    """Train and test images of an RGB set as in-memory `TensorImages` (torchvision's CIFAR-10 and STL-10
    already hold uint8 arrays; the JPEG CIFAR-10 copy is decoded once and cached). torchvision is imported only
    where it reads the files: importing it costs seconds, and the cached JPEG copy needs none of it."""
    if name in ("cifar10", "stl10"):
        import torchvision.datasets as tvd

    if name == "cifar10":
        parts = [_torchvision_call(lambda train=train: tvd.CIFAR10(str(root), train, download=download), name, root)
                 for train in (True, False)]
        arrays = [(part.data.transpose(0, 3, 1, 2), np.asarray(part.targets)) for part in parts]
    elif name == "stl10":
        parts = [_torchvision_call(lambda split=split: tvd.STL10(str(root), split, download=download), name, root)
                 for split in ("train", "test")]
        arrays = [(part.data, np.asarray(part.labels)) for part in parts]
    else:
        arrays = decoded_image_folder(cifar10_jpeg_folder(root, cache_dir), cache_dir)
    mean, std = _STATS[name]
    train, test = (TensorImages(torch.from_numpy(np.ascontiguousarray(images)),
                                torch.from_numpy(labels.astype(np.int64)),
                                1 / 255, mean, std, image_size) for images, labels in arrays)
    return train, test, DatasetInfo(name, 10, 3, train.image_size, mean, std)


def _torchvision_call(make, name: str, root: Path):
    try:
        return make()
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted. You can use download=True ..."
        raise UserError(f"{name} not found under {root} ({str(err).splitlines()[0]}); "
                        f"pass --download to fetch it") from None
