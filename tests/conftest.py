"""Shared fixtures. Real data comes from ../shared/data (override with SAMPLENAS_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("SAMPLENAS_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.skip(f"shared data not found at {DATA_DIR} (set SAMPLENAS_DATA)")
    return DATA_DIR


@pytest.fixture(scope="session")
def nb101_npz_path(data_dir) -> Path:
    path = data_dir / "nasbench101" / "nb101_table_repeat0.npz"
    if not path.exists():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="session")
def nb101_npz(nb101_npz_path):
    with np.load(nb101_npz_path, allow_pickle=False) as table:
        return {name: table[name] for name in table.files}


@pytest.fixture(scope="session")
def nb101_tfrecord_path(data_dir) -> Path:
    path = data_dir / "nasbench101" / "nb101_sample_1k.tfrecord"
    if not path.exists():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def nb101_table(nb101_npz_path, tmp_path_factory) -> Path:
    """The shared npz converted once per session to the HDF5 table `NASBench101` reads."""
    from samplenas.benchmarks.nasbench101_convert import convert

    path = tmp_path_factory.mktemp("nb101") / "nb101_repeat0.h5"
    convert(nb101_npz_path, path, progress=False)
    return path
