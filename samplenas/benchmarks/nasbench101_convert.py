"""Convert the official NAS-Bench-101 tfrecord, or the shared npz table, into one HDF5 table.

Layout (format "samplenas-nasbench101", version 1), every dataset contiguous and uncompressed so
`NASBench101` can memory-map it instead of reading it (open in milliseconds, pages loaded on use):

    hash                  S32 (N,)          official module hash, sorted (the lookup key)
    num_vertices          uint8 (N,)
    adjacency             uint8 (N, 7, 7)   pruned cell, zero-padded
    ops                   int8 (N, 7)       -1 input, 0..2 CANONICAL_OPS, -2 output, -3 padding
    trainable_parameters  float64 (N,)      NaN where unknown
    repeats               uint8 (N, B)      runs present per cell and budget
    metrics/<stage>_<m>   (N, B, R)         stage halfway|final, m in METRICS; NaN where missing
    extra/<column>        (N,)              per-cell columns only the source has (e.g. flops_thop)
    attrs: format, version, budgets (B,), source

Metric arrays are float32 when every value survives the round trip (the official values are
float32 results stored as doubles), else float64.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from samplenas.benchmarks.file_kind import NPZ, file_kind
from samplenas.benchmarks.nasbench101_records import METRIC_COLUMNS, NUM_VERTICES, PADDING_CODE, parse_record
from samplenas.benchmarks.table_schema import FORMAT, VERSION, check_record
from samplenas.benchmarks.tfrecord import iter_records
from samplenas.disk_space import OUT_OF_SPACE, NoRoom, check_room, write_bytes_atomically
from samplenas.errors import UserError

# A lower bound of the table's size from the tfrecord's: an official record (one run, about 300-400
# bytes) keeps at least its 8 metrics as float32 (32 bytes) in the table.
TFRECORD_BYTES_PER_STORED_BYTE = 16


@dataclass
class Table:
    """A table in memory, rows in any order (the writer sorts them by hash)."""

    hashes: np.ndarray
    num_vertices: np.ndarray
    adjacency: np.ndarray
    ops: np.ndarray
    trainable_parameters: np.ndarray
    budgets: tuple[int, ...]
    repeats: np.ndarray
    metrics: dict[str, np.ndarray]
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def convert(source: str | Path, output: str | Path, progress: bool = True) -> dict:
    """Read `source` (tfrecord or npz, told apart by content) and write `output` atomically."""
    source, output = Path(source), Path(output)
    if not source.is_file():
        raise UserError(f"{source}: no such file")
    npz = file_kind(source) == NPZ
    if not npz:  # reading a large tfrecord takes minutes: a disk too full is refused before that
        check_room(output.parent, source.stat().st_size // TFRECORD_BYTES_PER_STORED_BYTE, "the NAS-Bench-101 table")
    start = time.perf_counter()
    table = read_npz(source) if npz else read_tfrecord(source, progress)
    write_table(table, output, source=source.name)
    return {
        "cells": len(table.hashes),
        "budgets": list(table.budgets),
        "max_repeats": int(table.repeats.max(initial=0)),
        "seconds": round(time.perf_counter() - start, 2),
        "output": str(output),
    }


def read_tfrecord(path: Path, progress: bool = True) -> Table:
    """Stream the official file; keeps one copy of the fixed data per cell and 8 numbers per run."""
    cell_of: dict[str, int] = {}
    fixed: list[tuple] = []
    runs = array("d")  # flat (cell, epochs, *values) per run: 80 bytes each
    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"reading {path.name}",
              disable=not progress, leave=False) as bar:
        for offset, payload in iter_records(path, progress=bar.update):
            try:
                record = check_record(parse_record(payload))
            except ValueError as err:
                raise UserError(f"{path}: bad NAS-Bench-101 record at byte offset {offset}: {err}") from None
            cell = cell_of.setdefault(record.module_hash, len(cell_of))
            if cell == len(fixed):
                fixed.append((record.module_hash, record.num_vertices, record.adjacency, record.ops,
                              record.trainable_parameters))
            runs.extend((cell, record.epochs, *record.values))
    if not fixed:
        raise UserError(f"{path}: no records found")
    hashes, num_vertices, adjacency, ops, params = zip(*fixed)
    run_array = np.frombuffer(runs, dtype=np.float64).reshape(-1, 2 + len(METRIC_COLUMNS))
    cells, epochs = run_array[:, 0].astype(np.int64), run_array[:, 1].astype(np.int64)
    budgets = tuple(int(b) for b in np.unique(epochs))
    budget_index = np.searchsorted(budgets, epochs)
    repeat = _occurrence_index(cells * len(budgets) + budget_index)
    shape = (len(fixed), len(budgets), int(repeat.max()) + 1)
    metrics = {}
    for column, name in enumerate(METRIC_COLUMNS, start=2):
        values = np.full(shape, np.nan)
        values[cells, budget_index, repeat] = run_array[:, column]
        metrics[name] = values
    repeats = np.zeros(shape[:2], dtype=np.uint8)
    np.add.at(repeats, (cells, budget_index), 1)
    return Table(np.array(hashes, dtype="S32"), np.array(num_vertices, dtype=np.uint8), np.stack(adjacency),
                 np.stack(ops), np.array(params, dtype=np.float64), budgets, repeats, metrics)


def _occurrence_index(keys: np.ndarray) -> np.ndarray:
    """For each element, how many equal keys came before it (0 for the first run of a cell)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    occurrence = np.empty(len(keys), dtype=np.int64)
    occurrence[order] = np.arange(len(keys)) - group_start
    return occurrence


# npz column -> (metric, budget) at repeat 0; see ../shared/data/README.md
def _npz_metric_columns(names) -> dict[str, tuple[str, int]]:
    mapping = {"test_acc_108_rep0": ("final_test_accuracy", 108), "train_time_108": ("final_training_time", 108)}
    for name in names:
        if name.startswith("val_acc_") and name[len("val_acc_"):].isdigit():
            mapping[name] = ("final_validation_accuracy", int(name[len("val_acc_"):]))
    return {name: target for name, target in mapping.items() if name in names}


def read_npz(path: Path) -> Table:
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise UserError(f"{path}: not a readable npz table ({err})") from None
    missing = [name for name in ("hash", "num_vertices", "adjacency", "ops") if name not in data]
    if missing:
        raise UserError(f"{path}: npz table lacks column(s) {', '.join(missing)}")
    n = len(data["hash"])
    sources = _npz_metric_columns(data)
    if not sources:
        raise UserError(f"{path}: npz table has no metric columns (test_acc_108_rep0, val_acc_<epochs>, ...)")
    budgets = tuple(sorted({budget for _, budget in sources.values()}))
    metrics = {name: np.full((n, len(budgets), 1), np.nan) for name in METRIC_COLUMNS}
    for column, (metric, budget) in sources.items():
        metrics[metric][:, budgets.index(budget), 0] = data[column]
    present = np.any([np.isfinite(values[:, :, 0]) for values in metrics.values()], axis=0)
    consumed = {"hash", "num_vertices", "adjacency", "ops", "params", *sources}
    extra = {name: values for name, values in data.items()
             if name not in consumed and values.shape == (n,) and values.dtype.kind in "fiu"}
    params = data["params"].astype(np.float64) if "params" in data else np.full(n, np.nan)
    return Table(data["hash"].astype("S32"), data["num_vertices"].astype(np.uint8), data["adjacency"].astype(np.uint8),
                 data["ops"].astype(np.int8), params, budgets, present.astype(np.uint8), metrics, extra)


def write_table(table: Table, output: Path, source: str) -> None:
    """Write sorted by hash to a temporary file beside `output`, then rename; nothing is left on failure.

    The file is built in memory first (it is smaller than the table already held), so its size is
    known before the disk is touched and a full disk is one line (`NoRoom`) naming where space ran out.
    """
    _check(table)
    order = np.argsort(table.hashes, kind="stable")
    sorted_hashes = table.hashes[order]
    duplicate = np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1])
    if len(duplicate):
        raise UserError(f"{source}: module hash {sorted_hashes[duplicate[0]].decode()} occurs in two rows")
    image = io.BytesIO()
    with h5py.File(image, "w") as h5:  # built in memory: HDF5 never meets a full disk (it crashed there)
        h5.attrs.update(format=FORMAT, version=VERSION, budgets=np.array(table.budgets, dtype=np.int64),
                        source=source)
        for name in ("num_vertices", "adjacency", "ops", "trainable_parameters", "repeats"):
            h5.create_dataset(name, data=getattr(table, name)[order])
        h5.create_dataset("hash", data=sorted_hashes)
        for name, values in table.metrics.items():
            h5.create_dataset(f"metrics/{name}", data=_narrowest_float(values[order]))
        for name, values in table.extra.items():
            h5.create_dataset(f"extra/{name}", data=values[order])
    _make_folder(output.parent)
    write_bytes_atomically(image.getbuffer(), output, "the NAS-Bench-101 table")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        error = NoRoom if err.errno in OUT_OF_SPACE else UserError
        raise error(f"cannot create {folder}: {os.strerror(err.errno) if err.errno else err}") from None


def _check(table: Table) -> None:
    n = len(table.hashes)
    if n == 0:
        raise UserError("the source holds no cells")
    nv = table.num_vertices
    if nv.min() < 2 or nv.max() > NUM_VERTICES:
        raise UserError(f"vertex counts must lie in 2..{NUM_VERTICES}")
    if table.adjacency.shape != (n, NUM_VERTICES, NUM_VERTICES) or table.ops.shape != (n, NUM_VERTICES):
        raise UserError(f"adjacency must be (N, {NUM_VERTICES}, {NUM_VERTICES}) and ops (N, {NUM_VERTICES})")
    if table.ops.min() < PADDING_CODE or table.ops.max() > 2:
        raise UserError("op codes must lie in -3..2")


def _narrowest_float(values: np.ndarray) -> np.ndarray:
    narrow = values.astype(np.float32)
    same = (narrow.astype(np.float64) == values) | np.isnan(values)
    return narrow if same.all() else values
