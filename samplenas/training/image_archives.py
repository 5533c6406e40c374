"""The JPEG CIFAR-10 copy: its archive extracted once, and its images decoded once into uint8 arrays,
both kept in the cache folder (never half-written: a temporary name renamed into place)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from samplenas.cache import cache_root
from samplenas.errors import UserError

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
