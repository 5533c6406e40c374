"""Datasets by name, with a seeded validation split carved out of the training set.

`load_dataset(name, data_dir)` returns the train/val/test datasets and the metadata a supernet
needs (classes, channels, image size, normalisation). The validation split is always a held-out
part of the training set, never the test set, so search never sees test data.

Small datasets (digits, MNIST, Fashion-MNIST) live in memory as uint8 tensors and are batched by
indexing, which is far faster on CPU than a per-item DataLoader. `BatchStream` gives an endless,
seeded, resumable sequence of training batches: the order depends only on (seed, epoch, position),
so a resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from samplenas.cache import cache_root
from samplenas.errors import UserError
from samplenas.training.choices import DATASETS

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


class TensorImages(Dataset):
    """In-memory images (uint8 N,C,H,W times `scale` gives [0, 1]), normalised on the way out.

    `batch(indices, key)` returns a whole batch with one indexing op, on the device the images are on
    (`to(device)` keeps a data set resident on a GPU). `image_size` other than the stored size resizes
    per batch (e.g. 8x8 digits shown to a net built for 16x16). `pad_crop` > 0 (the training split of
    an augmented RGB set) pads by that many black pixels, crops back at a random offset and flips half
    the images, as torchvision's RandomCrop(padding) + RandomHorizontalFlip do, but batched on tensors
    and drawn from `key` (seed, epoch) and each example's index only, so a resumed run sees the same
    crops; without a key nothing is augmented. `origin[i]` is example i's position in the file set it was
    loaded from, kept through every subset (what tells that validation and training never share an image).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, scale: float,
                 mean: Sequence[float], std: Sequence[float], image_size: int | None = None, pad_crop: int = 0,
                 origin: np.ndarray | None = None):
        self.images = images
        self.origin = np.arange(len(labels)) if origin is None else np.asarray(origin, dtype=np.int64)
        self.labels = labels.long()
        self.scale = float(scale)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
        self.image_size = int(image_size or images.shape[-1])
        self.pad_crop = int(pad_crop)
        self._draws: tuple[tuple[int, ...], np.ndarray] | None = None  # the last key's per-example draws

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices, key: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        indices = np.asarray(indices, dtype=np.int64)
        index = torch.as_tensor(indices, device=self.images.device)
        images = self.images[index]
        if self.pad_crop and key is not None:
            images = pad_crop_flip(images, self._augmentation(tuple(int(k) for k in key))[indices], self.pad_crop)
        x = images.float().div_(1.0 / self.scale)  # as torchvision's ToTensor: bitwise its values
        if x.shape[-1] != self.image_size:  # antialiased when shrinking, as PIL's Resize
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                              antialias=self.image_size < x.shape[-1])
        return (x - self.mean) / self.std, self.labels[index]

    def _augmentation(self, key: tuple[int, ...]) -> np.ndarray:
        """(row offset, column offset, flip) of every example for `key`: a pure function of the key."""
        if self._draws is None or self._draws[0] != key:
            rng = np.random.default_rng([*key, 0xC401])
            offsets = rng.integers(0, 2 * self.pad_crop + 1, size=(len(self), 2))
            flips = rng.random(len(self)) < 0.5
            self._draws = (key, np.column_stack([offsets, flips]).astype(np.int64))
        return self._draws[1]

    def __getitem__(self, i: int):
        x, y = self.batch([i])
        return x[0], y[0]

    def _like(self, images: torch.Tensor, labels: torch.Tensor, pad_crop: int, origin: np.ndarray) -> TensorImages:
        return TensorImages(images, labels, self.scale, self.mean.flatten().tolist(), self.std.flatten().tolist(),
                            self.image_size, pad_crop, origin)

    def subset(self, indices) -> TensorImages:
        indices = np.asarray(indices, dtype=np.int64)
        index = torch.as_tensor(indices, device=self.images.device)
        return self._like(self.images[index], self.labels[index], self.pad_crop, self.origin[indices])

    def augmented(self, pad: int) -> TensorImages:
        """The same images with random pad-`pad`-and-crop and flips on keyed batches."""
        return self._like(self.images, self.labels, pad, self.origin)

    def to(self, device: torch.device | str) -> TensorImages:
        """The same data set held on `device` (batches are then made there, with no host copy)."""
        return self._like(self.images.to(device), self.labels.to(device), self.pad_crop, self.origin)


def pad_crop_flip(images: torch.Tensor, draws: np.ndarray, pad: int) -> torch.Tensor:
    """Crop image b of the zero-padded batch at (draws[b, 0], draws[b, 1]) and mirror it when draws[b, 2]
    (RandomCrop, then RandomHorizontalFlip): a view per image, copied once into the batch."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (pad, pad, pad, pad))
    out = torch.empty_like(images)
    for b, (row, column, flip) in enumerate(draws.tolist()):
        crop = padded[b, :, row:row + height, column:column + width]
        out[b] = crop.flip(-1) if flip else crop
    return out


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
    train, val = _hold_out(_limit(full_train, train_examples, seed), val_fraction, seed)
    if augment and info.in_channels == 3:  # the training split only: validation and test stay as they are
        train = train.augmented(full_train.images.shape[-1] // 8)
    chosen = {"train": train, "val": val, "test": test}
    out = LoadedData(info)
    for split in splits:
        setattr(out, split, _limit(chosen[split], limit, seed))
    return out


def _hold_out(dataset: Dataset, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A seeded, class-stratified validation split. Validation keeps the interleaved order of
    `stratified_order`, so any prefix of it (evaluation takes the first N) covers the classes in
    proportion even when the source is sorted by class (ImageFolder)."""
    order = stratified_order(_labels(dataset), seed)
    n_val = max(1, int(round(val_fraction * len(dataset))))
    return _take(dataset, np.sort(order[n_val:])), _take(dataset, order[:n_val])


def _limit(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    """At most `limit` examples, a seeded class-stratified draw (not the first N: sorted sets)."""
    if limit is None or limit >= len(dataset):
        return dataset
    return _take(dataset, np.sort(stratified_order(_labels(dataset), seed + 1)[: int(limit)]))


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


def _labels(dataset: Dataset) -> np.ndarray:
    """Class labels without loading images (TensorImages, ImageFolder/CIFAR `targets`, Subsets);
    datasets without labels (none here today) get one class, i.e. a plain seeded permutation."""
    if isinstance(dataset, TensorImages):
        return dataset.labels.cpu().numpy()
    if isinstance(dataset, Subset):
        return _labels(dataset.dataset)[np.asarray(dataset.indices, dtype=np.int64)]
    for name in ("targets", "labels"):  # torchvision: ImageFolder/CIFAR10 `targets`, STL10 `labels`
        if getattr(dataset, name, None) is not None:
            return np.asarray(getattr(dataset, name))
    return np.zeros(len(dataset), dtype=np.int64)


def _take(dataset: Dataset, indices: np.ndarray) -> Dataset:
    if isinstance(dataset, TensorImages):
        return dataset.subset(indices)
    return Subset(dataset, indices.tolist())


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
_IDX_LAYOUTS = {"mnist": ("mnist", "MNIST/raw"), "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw")}
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

# MNIST and Fashion-MNIST files have the same names, so a folder of one passed as the other loaded
# silently. Each official file is recognised by its first FINGERPRINT_RECORDS records (sha256, first
# 16 hex digits): a hash of 12 kB per file, which also recognises a copy cut down to its first N examples.
FINGERPRINT_RECORDS = 16
OFFICIAL_IDX = {
    "mnist": dict(zip(IDX_STEMS, ("b72be252ad746f92", "0c97416007bd7f94", "9424743f810dfce4", "452e19e44480e0e3"))),
    "fashion-mnist": dict(zip(IDX_STEMS, ("10dd7c4a9ee09d2d", "c1b91290a930cac3", "c19af3e166819aa4",
                                          "8f346f739596d55e"))),
}


def idx_fingerprint(array: np.ndarray) -> str | None:
    """The hash of the first FINGERPRINT_RECORDS records of an idx array (None when it holds fewer)."""
    if len(array) < FINGERPRINT_RECORDS:
        return None
    return hashlib.sha256(np.ascontiguousarray(array[:FINGERPRINT_RECORDS]).tobytes()).hexdigest()[:16]


def check_idx_source(name: str, stem: str, path: Path, array: np.ndarray) -> None:
    """UserError when `array` (read from `path`) is the other official data set's `stem` file."""
    fingerprint = idx_fingerprint(array)
    for other, files in OFFICIAL_IDX.items():
        if other != name and fingerprint is not None and files.get(stem) == fingerprint:
            raise UserError(f"data folder {path.parent} holds {IDX_TITLES[other]}, not {IDX_TITLES[name]} "
                            f"({path.name} is {IDX_TITLES[other]}'s); point --data-dir at the {IDX_TITLES[name]} files")


def read_idx(path: Path) -> np.ndarray:
    """An idx file (the MNIST format: magic, big-endian dims, uint8 data), plain or gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not a uint8 idx file")
        shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, ValueError, struct.error, EOFError) as err:
        raise UserError(f"cannot read idx file {path}: {err}") from None


def _find_idx(root: Path, name: str, stem: str) -> Path | None:
    for folder in (root / _IDX_LAYOUTS[name][0], root / _IDX_LAYOUTS[name][1], root):
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _idx_dataset(name: str, root: Path, download: bool, image_size: int | None):
    stems = IDX_STEMS
    paths = [_find_idx(root, name, s) for s in stems]
    if any(p is None for p in paths) and download:
        import torchvision.datasets as tvd

        cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
        _torchvision_call(lambda: cls(str(root), train=True, download=True), name, root)
        paths = [_find_idx(root, name, s) for s in stems]
    if any(p is None for p in paths):
        missing = stems[[p is None for p in paths].index(True)]
        raise UserError(f"{name}: {missing}[.gz] not found under {root}/{_IDX_LAYOUTS[name][0]}, "
                        f"{root}/{_IDX_LAYOUTS[name][1]} or {root} (pass --download to fetch it)")
    arrays = []
    for stem, path in zip(stems, paths):
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
    already hold uint8 arrays; the JPEG CIFAR-10 copy is decoded once and cached)."""
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


CIFAR10_JPEG_ARCHIVE = "cifar10_jpeg_q75.tar.gz"


def cifar10_jpeg_folder(root: Path, cache_dir=None) -> Path:
    """The folder holding train/ and test/ of the JPEG CIFAR-10 copy, extracting the archive once.

    Accepts an already extracted `<root>/cifar10-jpeg/{train,test}` (or `<root>/{train,test}`);
    otherwise extracts `<root>/cifar10-jpeg/cifar10_jpeg_q75.tar.gz` into a cache folder keyed by the
    archive's path, size and mtime, via a temporary folder renamed into place (never half-written).
    """
    for folder in (root / "cifar10-jpeg", root):
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            return folder
    archive = next((p for p in (root / "cifar10-jpeg" / CIFAR10_JPEG_ARCHIVE, root / CIFAR10_JPEG_ARCHIVE)
                    if p.is_file()), None)
    if archive is None:
        raise UserError(f"cifar10-jpeg: neither {root}/cifar10-jpeg/{{train,test}} nor "
                        f"{root}/cifar10-jpeg/{CIFAR10_JPEG_ARCHIVE} exists")
    stat = archive.stat()
    tag = hashlib.sha1(f"{archive.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    cache = Path(cache_dir) if cache_dir else cache_root()
    target = cache / f"cifar10-jpeg-{tag}"
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cifar10-jpeg-", dir=cache))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isdir() or m.isfile()]
            if hasattr(tarfile, "data_filter"):  # refuses absolute paths and links out of the folder
                tar.extractall(staging, members=members, filter="data")
            else:
                tar.extractall(staging, members=[m for m in members if _is_safe_member(m.name)])
        if not ((staging / "train").is_dir() and (staging / "test").is_dir()):
            raise UserError(f"{archive} does not contain train/ and test/ folders")
        try:
            os.replace(staging, target)
        except OSError:  # another process finished first
            if not target.is_dir():
                raise
    except (tarfile.TarError, OSError) as err:
        raise UserError(f"cannot extract {archive}: {err}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


DECODED_SPLITS = ("train", "test")


def decoded_image_folder(folder: Path, cache_dir=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(uint8 N,C,H,W images, labels) of `folder`/train and `folder`/test, in ImageFolder's order (so the
    validation split is the one the PIL pipeline drew), decoded once and kept as an .npz in the cache
    folder, keyed by the folder's path and its class folders' names, sizes and times: later runs read
    the arrays in about a second instead of decoding 60,000 JPEGs per epoch."""
    classes = {split: sorted(d.name for d in (folder / split).iterdir() if d.is_dir()) for split in DECODED_SPLITS}
    stamp = [str(folder.resolve())]
    for split in DECODED_SPLITS:
        for name in classes[split]:
            entry = folder / split / name
            stamp.append(f"{split}/{name}:{entry.stat().st_mtime_ns}:{sum(1 for _ in entry.iterdir())}")
    tag = hashlib.sha1("\n".join(stamp).encode()).hexdigest()[:12]
    cache = Path(cache_dir) if cache_dir else cache_root()
    target = cache / f"decoded-{folder.name}-{tag}.npz"
    if target.is_file():
        arrays = _read_decoded(target, classes["train"])
        if arrays is not None:
            return arrays
    arrays = [_decode_split(folder / split) for split in DECODED_SPLITS]
    cache.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".decoded-", suffix=".npz", dir=cache)
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, classes=np.asarray(classes["train"]),
                     **{f"{split}_{kind}": array for split, pair in zip(DECODED_SPLITS, arrays)
                        for kind, array in zip(("images", "labels"), pair)})
        os.replace(staging, target)
    except OSError as err:
        Path(staging).unlink(missing_ok=True)
        print(f"note: could not keep the decoded images in {cache} ({err}); the next run decodes again",
              file=sys.stderr)
    return arrays


def _decode_split(split: Path) -> tuple[np.ndarray, np.ndarray]:
    import torchvision.datasets as tvd
    from PIL import Image

    folder = tvd.ImageFolder(str(split))
    print(f"decoding the {len(folder.samples):,} images of {split} once (kept in the cache folder)", file=sys.stderr)
    images = None
    for i, (path, _) in enumerate(tqdm(folder.samples, desc=f"decoding {split.name}", unit="img", leave=False,
                                       disable=not sys.stderr.isatty())):
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB")).transpose(2, 0, 1)
        if images is None:
            images = np.empty((len(folder.samples), *pixels.shape), dtype=np.uint8)
        if pixels.shape != images.shape[1:]:
            raise UserError(f"{path} is {pixels.shape[2]}x{pixels.shape[1]}, the others "
                            f"{images.shape[3]}x{images.shape[2]}: an image folder's images must share one size")
        images[i] = pixels
    if images is None:
        raise UserError(f"{split} holds no images")
    return images, np.asarray(folder.targets, dtype=np.int64)


def _read_decoded(path: Path, classes: list[str]) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The cached arrays if they have the expected keys, dtypes, shapes and classes; None (decode again) if not."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            stored = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        stored = {}
    arrays = []
    for split in DECODED_SPLITS:
        images, labels = stored.get(f"{split}_images"), stored.get(f"{split}_labels")
        if (images is None or labels is None or images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3
                or labels.dtype != np.int64 or labels.shape != images.shape[:1]
                or labels.min(initial=0) < 0 or labels.max(initial=0) >= len(classes)):
            print(f"note: {path} is not a decoded image cache of this folder; decoding again", file=sys.stderr)
            return None
        arrays.append((images, labels))
    if stored.get("classes") is None or stored["classes"].tolist() != classes:
        print(f"note: {path} was decoded from other classes; decoding again", file=sys.stderr)
        return None
    return arrays


def _is_safe_member(name: str) -> bool:
    path = Path(name)
    return not path.is_absolute() and ".." not in path.parts


# --- batching -------------------------------------------------------------------------------------
class SeededItems(Dataset):
    """A dataset whose transforms draw from torch's global RNG (torchvision's random crop and flip),
    made a pure function of (key, index): item `(key, i)` is produced with the CPU generator seeded
    from (*key, i) and the caller's RNG state restored afterwards.

    Without this the augmentation of an example depended on how far the global stream had advanced
    (and on when a DataLoader iterator drew its worker seeds), so a run resumed mid-epoch saw other
    crops than the uninterrupted run. Keyed by (seed, epoch), it is the same with 0 or N workers.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        key, index = item
        state = torch.get_rng_state()
        torch.default_generator.manual_seed(int(np.random.SeedSequence([*key, int(index)]).generate_state(1)[0]))
        try:
            return self.dataset[index]
        finally:
            torch.set_rng_state(state)


def iterate_batches(dataset: Dataset, indices: Sequence[int], batch_size: int, num_workers: int = 0,
                    key: Sequence[int] = ()) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) batches over `indices` in the given order.

    key: non-negative ints (e.g. seed, epoch) that, with each example's index, fix its random
    augmentation; the global RNG is neither used nor advanced (the DataLoader gets its own generator).
    """
    if isinstance(dataset, TensorImages):
        for start in range(0, len(indices), batch_size):
            yield dataset.batch(indices[start:start + batch_size], key)
        return
    key = tuple(int(k) for k in key)
    chunks = [[(key, int(i)) for i in indices[start:start + batch_size]]
              for start in range(0, len(indices), batch_size)]
    yield from DataLoader(SeededItems(dataset), batch_sampler=chunks, num_workers=num_workers,
                          generator=torch.Generator())


def in_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Image batches (N, C, H, W) laid out channels-last when asked; anything else as it is."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def eval_batches(dataset: Dataset, batch_size: int, limit: int | None = None, num_workers: int = 0):
    """The first `limit` examples (all by default) in stored order: the same every time."""
    n = len(dataset) if limit is None else min(len(dataset), int(limit))
    return iterate_batches(dataset, np.arange(n), batch_size, num_workers)


class BatchStream:
    """An endless stream of training batches whose order depends only on (seed, epoch, position).

    Epoch e visits the examples in the permutation drawn from `default_rng([seed, e])`; the last
    incomplete batch of an epoch is dropped so every batch has `batch_size` examples. `state_dict`
    is (epoch, position); after `load_state_dict` the stream continues exactly where it stopped.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0, num_workers: int = 0):
        if len(dataset) < batch_size:
            raise UserError(f"batch size {batch_size} exceeds the {len(dataset)} training examples")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.num_workers = num_workers
        self.epoch = 0
        self.position = 0  # batches already taken in this epoch
        self._iterator: Iterator | None = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.dataset) // self.batch_size

    def remaining_order(self) -> np.ndarray:
        """The example indices this epoch still has to visit, whole batches only."""
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.dataset))
        return order[self.position * self.batch_size: self.batches_per_epoch * self.batch_size]

    def _start(self) -> None:
        self._iterator = iterate_batches(self.dataset, self.remaining_order(), self.batch_size, self.num_workers,
                                         key=(self.seed, self.epoch))

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.position >= self.batches_per_epoch:
            self.epoch, self.position, self._iterator = self.epoch + 1, 0, None
        if self._iterator is None:
            self._start()
        batch = next(self._iterator)
        self.position += 1
        return batch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), int(state["position"])
        self._iterator = None
