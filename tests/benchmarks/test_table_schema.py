"""Schema checks at the NB101 boundary: damaged HDF5 tables and implausible tfrecord rows are one-line errors."""

from __future__ import annotations

import json
import re
import shutil

import h5py
import numpy as np
import pytest

from samplenas.benchmarks import table_schema
from samplenas.benchmarks.nasbench101 import NASBench101
from samplenas.benchmarks.nasbench101_records import parse_record
from samplenas.benchmarks.table_schema import check_record, read_table
from samplenas.errors import UserError


def damaged(nb101_small_table, tmp_path, change) -> str:
    path = tmp_path / "damaged.h5"
    shutil.copy(nb101_small_table, path)
    with h5py.File(path, "r+") as h5:
        change(h5)
    return str(path)


def _replace(name, data):
    def change(h5):
        del h5[name]
        h5.create_dataset(name, data=data)
    return change


CHANGES = {
    "missing dataset 'ops'": lambda h5: h5.__delitem__("ops"),
    "missing dataset 'hash'": lambda h5: h5.__delitem__("hash"),
    "missing dataset 'repeats'": lambda h5: h5.__delitem__("repeats"),
    "missing dataset 'metrics/final_test_accuracy'": lambda h5: h5.__delitem__("metrics/final_test_accuracy"),
    "missing attribute 'budgets'": lambda h5: h5.attrs.__delitem__("budgets"),
    "dataset 'ops' has 5 entries on axis 1": _replace("ops", np.zeros((6, 5), np.int8)),
    "dataset 'hash' has dtype int64, expected 32-byte strings": _replace("hash", np.arange(6)),
    "dataset 'adjacency' has shape (6, 49)": _replace("adjacency", np.zeros((6, 49), np.uint8)),
    "format attribute is 'other'": lambda h5: h5.attrs.__setitem__("format", "other"),
    "dataset 'ops' must hold op codes": _replace("ops", np.full((6, 7), 9, np.int8)),
}


@pytest.mark.parametrize("expected", sorted(CHANGES))
def test_damaged_tables_are_named_when_they_open(nb101_small_table, tmp_path, expected, refused):
    path = damaged(nb101_small_table, tmp_path, CHANGES[expected])
    with pytest.raises(UserError, match="not a samplenas NB101 table: " + re.escape(expected)):
        NASBench101(path)
    for argv in (["nb101", "stats", "--table", path], ["nb101", "study", "--table", path, "--seeds", "1"],
                 ["nb101", "query", "--table", path, "--hash", "0" * 32]):
        refused(argv, tmp_path, expected)


def test_a_good_table_passes_and_an_npz_says_how_to_convert(nb101_small_table, nb101_npz_path, tmp_path, refused):
    table = read_table(nb101_small_table)
    assert len(table.columns["hash"]) == len(NASBench101(nb101_small_table)) == 6
    refused(["nb101", "study", "--table", nb101_npz_path], tmp_path, "convert it first: samplenas nb101 convert")
    (tmp_path / "text.h5").write_text("hello")
    refused(["nb101", "stats", "--table", tmp_path / "text.h5"], tmp_path, "not an HDF5 file")


@pytest.mark.parametrize("field, value, expected", [
    (0, "é" * 32, "not 32 lowercase ASCII hex digits"),
    (0, "G" * 32, "not 32 lowercase ASCII hex digits"),
    (1, 10**30, "epochs 1000000000000000000000000000000 is outside"),
    (2, "1" * 49, "not a DAG"),
])
def test_implausible_tfrecord_rows_are_refused(nb101_rows, tmp_path, refused, tfrecord_frame, field, value, expected):
    row = list(nb101_rows[0])
    row[field] = value
    if field == 2:
        row[3] = ",".join(["input"] + ["conv3x3-bn-relu"] * 5 + ["output"])
    source = tmp_path / "bad.tfrecord"
    source.write_bytes(tfrecord_frame(json.dumps(nb101_rows[1]).encode()) + tfrecord_frame(json.dumps(row).encode()))
    refused(["nb101", "convert", source, "-o", tmp_path / "out.h5", "--quiet"], tmp_path, expected)


def test_check_record_passes_the_official_rows(nb101_rows):
    for row in nb101_rows:
        record = parse_record(json.dumps(row).encode())
        assert check_record(record) is record


def test_a_table_is_opened_once_per_load_and_the_checked_columns_are_reused(nb101_small_table, monkeypatch):
    opened, sniffed = [], []
    real_file, real_kind = h5py.File, table_schema.file_kind
    monkeypatch.setattr(table_schema.h5py, "File", lambda *a, **k: opened.append(a) or real_file(*a, **k))
    monkeypatch.setattr(table_schema, "file_kind", lambda path: sniffed.append(path) or real_kind(path))
    bench = NASBench101(nb101_small_table)
    assert len(opened) == 1 and sniffed == []  # a good table: one h5py open, no separate sniff
    table = read_table(nb101_small_table)
    assert np.array_equal(bench._num_vertices, table.columns["num_vertices"])  # read by the check, handed over
    assert sorted(table.extra()) == sorted(name.removeprefix("extra/") for name in table.columns
                                           if name.startswith("extra/"))


def test_the_schema_does_not_import_the_converter():
    """The converter imports the schema (FORMAT, check_record); the schema never imports it back."""
    import subprocess
    import sys

    code = ("import sys, samplenas.benchmarks.table_schema; "
            "assert 'samplenas.benchmarks.nasbench101_convert' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
