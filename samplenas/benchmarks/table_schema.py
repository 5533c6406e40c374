"""The NAS-Bench-101 HDF5 table format: its name, the checks when a table opens, and each tfrecord row's.

A table with a missing dataset, a wrong shape or a wrong dtype used to surface as a KeyError or an
IndexError deep inside a study; a hash column of the wrong type was accepted silently. `read_table`
opens the file once, checks the header and the small integer columns, and returns every column
ready to use (the small ones as read, the large ones memory-mapped), or raises one UserError line
such as "T.h5: not a samplenas NB101 table: missing dataset 'ops'". `check_record` is applied to
every parsed tfrecord row (after the protobuf decoding): ASCII hex hash, an epoch count that fits
the table, and an adjacency matrix that is a DAG in topological order (strictly upper triangular).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from samplenas.benchmarks.file_kind import HDF5, NPZ, file_kind
from samplenas.benchmarks.nasbench101_records import METRIC_COLUMNS, PADDING_CODE, Record
from samplenas.errors import UserError
from samplenas.spaces.nasbench101 import NUM_VERTICES

FORMAT = "samplenas-nasbench101"  # the `format` attribute of every table `samplenas nb101 convert` writes
VERSION = 1
MAX_EPOCHS = 1_000_000
HASH = re.compile(r"[0-9a-f]{32}", re.ASCII)
CHECKED_VALUES = ("num_vertices", "ops", "repeats")  # read whole to check their ranges (they index other arrays)

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


@dataclass(frozen=True)
class TableColumns:
    """A checked table: its attributes and every dataset by name ("hash", "metrics/final_test_accuracy",
    "extra/flops_thop", ...), memory-mapped where the file stores it contiguously."""

    budgets: tuple[int, ...]
    source: str
    columns: dict[str, np.ndarray]

    def extra(self) -> dict[str, np.ndarray]:
        """Per-cell columns only the source had (e.g. flops_thop), by their short name."""
        return {name.removeprefix("extra/"): values for name, values in self.columns.items()
                if name.startswith("extra/")}


def read_table(path: str | Path) -> TableColumns:
    """The table at `path`, opened once and checked; UserError (one line) unless `samplenas nb101 convert`
    wrote it completely."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            return _read_open(h5, path, f"{path}: not a samplenas NB101 table:")
    except OSError as err:
        kind = file_kind(path)
        if kind == NPZ:
            raise UserError(f"{path} is an npz table; convert it first: samplenas nb101 convert {path} -o TABLE.h5") \
                from None
        if kind != HDF5:
            raise UserError(f"{path}: not an HDF5 file (make a table with `samplenas nb101 convert`)") from None
        raise UserError(f"{path}: not a readable HDF5 table ({(str(err).splitlines() or [''])[0]})") from None


def _read_open(h5: h5py.File, path: Path, bad: str) -> TableColumns:
    found = h5.attrs.get("format")
    if not (isinstance(found, str) and found == FORMAT):
        raise UserError(f"{bad} format attribute is {_short(found)}, expected {FORMAT!r}")
    budgets = _check_layout(h5, bad)
    columns = {name: h5[name][()] for name in CHECKED_VALUES}
    _check_values(columns, bad, h5[f"metrics/{METRIC_COLUMNS[0]}"].shape[2])
    for name in DATASETS:
        if name not in columns:
            columns[name] = _map(h5[name], path)
    for name, dataset in (h5.get("extra") or {}).items():
        columns[f"extra/{name}"] = _map(dataset, path)
    return TableColumns(tuple(int(b) for b in budgets), str(h5.attrs.get("source", "")), columns)


def _map(dataset: h5py.Dataset, path: Path) -> np.ndarray:
    """Memory-map a contiguous dataset (pages load on first touch); read anything else."""
    offset = dataset.id.get_offset()
    if offset is None or dataset.chunks is not None or dataset.size == 0:
        return dataset[()]
    mapped = np.memmap(path, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape)
    return np.asarray(mapped)  # a plain ndarray view: memmap's subclass overhead slows every index


def _check_layout(h5: h5py.File, bad: str) -> np.ndarray:
    """Attributes, dataset names, dtypes and shapes (reads no data); returns the budgets."""
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
    for name, dataset in (h5.get("extra") or {}).items():
        if not isinstance(dataset, h5py.Dataset) or dataset.shape != (sizes["N"],) or dataset.dtype.kind not in "fiu":
            raise UserError(f"{bad} extra column {name!r} is not one number per cell")
    return budgets


def _check_values(columns: dict[str, np.ndarray], bad: str, num_repeats: int) -> None:
    """Ranges of the small integer columns that index into other arrays."""
    nv = columns["num_vertices"]
    if nv.min() < 2 or nv.max() > NUM_VERTICES:
        raise UserError(f"{bad} dataset 'num_vertices' must lie in 2..{NUM_VERTICES}")
    ops = columns["ops"]
    if ops.min() < PADDING_CODE or ops.max() > 2:
        raise UserError(f"{bad} dataset 'ops' must hold op codes in {PADDING_CODE}..2")
    if columns["repeats"].max() > num_repeats:
        raise UserError(f"{bad} dataset 'repeats' counts more repeats than the metric arrays hold ({num_repeats})")


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
