"""Shared fixtures. Real data comes from ../shared/data (override with SAMPLENAS_DATA)."""

from __future__ import annotations

import os
import shutil
import tempfile
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


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance shared by every test that needs Ray (start-up is paid once per session).

    Fixed at 2 CPUs, no dashboard, usage stats off. The temp dir is short and under /tmp because Ray's
    unix socket paths must stay below 107 characters. Yields the `ray` module.
    """
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    if ray.is_initialized():  # someone else owns it; never start a second Ray
        yield ray
        return
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, logging_level="ERROR",
             log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


# --- the CLI contract for bad input (issue 14): boundary and fuzz tests ----------------------------
def _snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` with a digest of its content (folders: "dir")."""
    import hashlib

    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def refused(capsys):
    """`refused(argv, root, expected=None) -> stderr`: runs `samplenas argv` in-process and asserts the
    contract: exit status 2, one or two stderr lines, no traceback, nothing under `root` created,
    changed or removed (and `expected` in the message, if given)."""
    from samplenas.cli import main

    def run(argv, root: Path, expected: str | None = None) -> str:
        capsys.readouterr()
        before = _snapshot(root)
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code == 2, (code, err)
        assert "Traceback" not in err and 0 < len(err.strip().splitlines()) <= 2, err
        assert err.startswith("samplenas"), err
        assert _snapshot(root) == before, f"files changed by {argv}: {err}"
        assert expected is None or expected in err, err
        return err

    return run


def _tfrecord_frame(payload: bytes) -> bytes:
    """One TFRecord frame: length, its masked CRC32C, payload, the payload's masked CRC32C."""
    import struct

    from samplenas.benchmarks.tfrecord import crc32c, masked

    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked(crc32c(length))) + payload + struct.pack("<I", masked(crc32c(payload)))


@pytest.fixture(scope="session")
def tfrecord_frame():
    """The function framing a payload as one TFRecord record."""
    return _tfrecord_frame


@pytest.fixture(scope="session")
def nb101_rows(nb101_tfrecord_path) -> list[list]:
    """The first six rows of the official-layout sample, as JSON lists."""
    import json

    from samplenas.benchmarks.tfrecord import iter_records

    return [json.loads(payload) for _, payload in list(iter_records(nb101_tfrecord_path))[:6]]


@pytest.fixture(scope="session")
def nb101_small_table(nb101_rows, tmp_path_factory) -> Path:
    """A six-cell HDF5 table converted from a tfrecord of `nb101_rows` (fast to copy and damage)."""
    import json

    from samplenas.benchmarks.nasbench101_convert import convert

    source = tmp_path_factory.mktemp("nb101_small") / "small.tfrecord"
    source.write_bytes(b"".join(_tfrecord_frame(json.dumps(row).encode()) for row in nb101_rows))
    convert(source, source.with_suffix(".h5"), progress=False)
    return source.with_suffix(".h5")
