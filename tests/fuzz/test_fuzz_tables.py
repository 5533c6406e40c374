"""Fuzz: damaged NB101 HDF5 tables and tfrecords through `samplenas nb101 stats/convert`."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
REQUIRED = ["hash", "num_vertices", "adjacency", "ops", "trainable_parameters", "repeats",
            "metrics/final_test_accuracy", "metrics/halfway_training_time", "@budgets", "@format"]
REPLACEMENTS = st.sampled_from([np.zeros(3), np.arange(6), np.zeros((6, 7, 7, 2)), np.array([b"x" * 32] * 6),
                                np.full((6, 7), 99, np.int8), np.zeros((6, 1, 1), np.float32), np.array(-1)])


@settings(max_examples=25, **FUZZ)
@given(data=st.data())
def test_byte_damaged_tables(nb101_small_table, tmp_path, contract, byte_damage, data):
    damaged = data.draw(byte_damage(nb101_small_table.read_bytes()))
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        (Path(folder) / "t.h5").write_bytes(damaged)
        contract(["nb101", "stats", "--table", Path(folder) / "t.h5"], Path(folder), allow_success=True)


@settings(max_examples=25, **FUZZ)
@given(name=st.sampled_from(REQUIRED), remove=st.booleans(), replacement=REPLACEMENTS)
def test_removed_or_mistyped_datasets(nb101_small_table, tmp_path, contract, name, remove, replacement):
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        path = Path(folder) / "t.h5"
        path.write_bytes(nb101_small_table.read_bytes())
        with h5py.File(path, "r+") as h5:
            if name.startswith("@"):
                del h5.attrs[name[1:]]
                if not remove:
                    h5.attrs[name[1:]] = replacement
            else:
                del h5[name]
                if not remove:
                    h5.create_dataset(name, data=replacement)
        contract(["nb101", "stats", "--table", path], Path(folder), allow_success=False)


@settings(max_examples=25, **FUZZ)
@given(data=st.data())
def test_byte_damaged_tfrecords(nb101_rows, tfrecord_frame, tmp_path, contract, byte_damage, data):
    source = b"".join(tfrecord_frame(json.dumps(row).encode()) for row in nb101_rows[:3])
    damaged = data.draw(byte_damage(source))
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        (Path(folder) / "in.tfrecord").write_bytes(damaged)
        contract(["nb101", "convert", Path(folder) / "in.tfrecord", "-o", Path(folder) / "out.h5", "--quiet"],
                 Path(folder), allow_success=True)


@settings(max_examples=30, **FUZZ)
@given(field=st.integers(0, 4), value=st.one_of(st.text(max_size=40), st.integers(-2**80, 2**80), st.none(),
                                                st.floats(allow_nan=True), st.lists(st.integers(), max_size=3)))
def test_mistyped_tfrecord_fields(nb101_rows, tfrecord_frame, tmp_path, contract, field, value):
    row = list(nb101_rows[0])
    row[field] = value
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        (Path(folder) / "in.tfrecord").write_bytes(tfrecord_frame(json.dumps(row).encode()))
        contract(["nb101", "convert", Path(folder) / "in.tfrecord", "-o", Path(folder) / "out.h5", "--quiet"],
                 Path(folder), allow_success=True)
