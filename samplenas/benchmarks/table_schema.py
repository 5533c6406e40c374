"""Schema checks at the NAS-Bench-101 boundary: the HDF5 table when it opens, each tfrecord row when parsed.

A table with a missing dataset, a wrong shape or a wrong dtype used to surface as a KeyError or an
IndexError deep inside a study; a hash column of the wrong type was accepted silently. `check_table`
reads only the header plus the small integer columns and raises one UserError line such as
"T.h5: not a samplenas NB101 table: missing dataset 'ops'". `check_record` is applied to every parsed
tfrecord row (after the protobuf decoding): ASCII hex hash, an epoch count that fits the table, and an
adjacency matrix that is a DAG in topological order (strictly upper triangular).
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

from samplenas.benchmarks.nasbench101_records import METRIC_COLUMNS, PADDING_CODE, Record
from samplenas.errors import UserError
from samplenas.spaces.nasbench101 import NUM_VERTICES

NPZ_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MAX_EPOCHS = 1_000_000
HASH = re.compile(r"[0-9a-f]{32}", re.ASCII)

# dataset -> (shape with N rows, B budgets, R repeats as letters; accepted dtype kinds)
DATASETS = {
    "hash": (("N",), "S"),
    "num_vertices": (("N",), "iu"),
    "adjacency": (("N", NUM_VERTICES, NUM_VERTICES), "iu"),
    "ops": (("N", NUM_VERTICES), "i"),
    "trainable_parameters": (("N",), "fiu"),
    "repeats": (("N", "B"), "iu"),
    **{f"metrics/{name}": (("N", "B", "R"), "f") for name in METRIC_COLUMNS},
}
KIND_NAMES = {"S": "byte strings", "iu": "integers", "i": "signed integers", "fiu": "numbers", "f": "floats"}


def check_table(path: str | Path) -> None:
    """UserError (one line) unless `path` is a complete table written by `samplenas nb101 convert`."""
    path = Path(path)
    with path.open("rb") as f:
        magic = f.read(8)
    if magic.startswith(NPZ_MAGIC):
        raise UserError(f"{path} is an npz table; convert it first: samplenas nb101 convert {path} -o TABLE.h5")
    if magic != HDF5_MAGIC:
        raise UserError(f"{path}: not an HDF5 file (make a table with `samplenas nb101 convert`)")
    from samplenas.benchmarks.nasbench101_convert import FORMAT  # (convert imports check_record from here)

    bad = f"{path}: not a samplenas NB101 table:"
    try:
        with h5py.File(path, "r") as h5:
            _check_open(h5, bad, FORMAT)
    except OSError as err:
        raise UserError(f"{path}: not a readable HDF5 table ({(str(err).splitlines() or [''])[0]})") from None


def _check_open(h5: h5py.File, bad: str, fmt: str) -> None:
    found = h5.attrs.get("format")
    if not (isinstance(found, str) and found == fmt):
        raise UserError(f"{bad} format attribute is {_short(found)}, expected {fmt!r}")
    if "budgets" not in h5.attrs:
        raise UserError(f"{bad} missing attribute 'budgets'")
    budgets = np.asarray(h5.attrs["budgets"])
    if budgets.ndim != 1 or not len(budgets) or budgets.dtype.kind not in "iu" or (budgets <= 0).any():
        raise UserError(f"{bad} attribute 'budgets' must be a non-empty list of positive integers")
    sizes: dict[str, int] = {"B": len(budgets)}
    for name, (shape, kinds) in DATASETS.items():
        if not isinstance(h5.get(name), h5py.Dataset):
            raise UserError(f"{bad} missing dataset {name!r}")
        dataset = h5[name]
        if dataset.dtype.kind not in kinds or (name == "hash" and dataset.dtype.itemsize != 32):
            expected = "32-byte strings" if name == "hash" else KIND_NAMES[kinds]
            raise UserError(f"{bad} dataset {name!r} has dtype {dataset.dtype}, expected {expected}")
        if len(dataset.shape) != len(shape):
            raise UserError(f"{bad} dataset {name!r} has shape {dataset.shape}, expected {_shape(shape)}")
        for axis, (want, have) in enumerate(zip(shape, dataset.shape)):
            if isinstance(want, str):
                want = sizes.setdefault(want, have)
            if have != want:
                raise UserError(f"{bad} dataset {name!r} has {have} entries on axis {axis}, expected {want} "
                                f"(shape {_shape(shape)})")
    if sizes["N"] == 0 or sizes["R"] == 0:
        raise UserError(f"{bad} it holds no cells")
    _check_values(h5, bad, sizes)
    for name, dataset in (h5.get("extra") or {}).items():
        if not isinstance(dataset, h5py.Dataset) or dataset.shape != (sizes["N"],) or dataset.dtype.kind not in "fiu":
            raise UserError(f"{bad} extra column {name!r} is not one number per cell")


def _check_values(h5: h5py.File, bad: str, sizes: dict[str, int]) -> None:
    """Ranges of the small integer columns that index into other arrays."""
    nv = h5["num_vertices"][()]
    if nv.min() < 2 or nv.max() > NUM_VERTICES:
        raise UserError(f"{bad} dataset 'num_vertices' must lie in 2..{NUM_VERTICES}")
    ops = h5["ops"][()]
    if ops.min() < PADDING_CODE or ops.max() > 2:
        raise UserError(f"{bad} dataset 'ops' must hold op codes in {PADDING_CODE}..2")
    repeats = h5["repeats"][()]
    if repeats.max() > sizes["R"]:
        raise UserError(f"{bad} dataset 'repeats' counts more repeats than the metric arrays hold ({sizes['R']})")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _shape(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def check_record(record: Record) -> Record:
    """`record` if its fields are plausible; ValueError saying which is not (the converter reports it)."""
    if not HASH.fullmatch(record.module_hash):
        raise ValueError(f"module hash {record.module_hash!r} is not 32 lowercase ASCII hex digits")
    if not 0 < record.epochs <= MAX_EPOCHS:
        raise ValueError(f"epochs {record.epochs} is outside 1..{MAX_EPOCHS}")
    matrix = np.asarray(record.adjacency)[:record.num_vertices, :record.num_vertices]
    if np.tril(matrix).any():
        raise ValueError("adjacency has an edge on or below the diagonal (not a DAG in topological order)")
    return record
