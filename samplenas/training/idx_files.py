"""MNIST-format idx files: where they are looked for, how they are read, and which official set they are.

MNIST and Fashion-MNIST files have the same names, so a folder of one passed as the other used to load
silently; each official file is recognised by its first records, and the other set's files are refused.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

from samplenas.errors import UserError

IDX_LAYOUTS = {"mnist": ("mnist", "MNIST/raw"), "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw")}
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

# Each official file is recognised by its first FINGERPRINT_RECORDS records (sha256, first 16 hex
# digits): a hash of 12 kB per file, which also recognises a copy cut down to its first N examples.
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


def find_idx(root: Path, name: str, stem: str) -> Path | None:
    for folder in (root / IDX_LAYOUTS[name][0], root / IDX_LAYOUTS[name][1], root):
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None
