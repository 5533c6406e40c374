"""MNIST-format idx files: layouts, reading, and telling MNIST from Fashion-MNIST."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from samplenas.errors import UserError
from samplenas.training import idx_files
from samplenas.training.data import load_dataset
from samplenas.training.idx_files import FINGERPRINT_RECORDS, IDX_STEMS, OFFICIAL_IDX, idx_fingerprint, read_idx


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_torchvision_layout_uncompressed(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 10)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    data = load_dataset("mnist", tmp_path, val_fraction=0.25)
    assert (len(data.train), len(data.val), len(data.test)) == (30, 10, 10)
    assert read_idx(raw / "t10k-labels-idx1-ubyte").tolist() == list(range(10))


def _write_idx_set(folder, seed, n_train=40, n_test=20):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.permutation(np.arange(n) % 10))


def test_a_folder_of_the_other_idx_data_set_is_refused(tmp_path, monkeypatch):
    """MNIST and Fashion-MNIST share file names: the loader tells them apart by content, and names both."""
    _write_idx_set(tmp_path / "digits-like", seed=1)
    _write_idx_set(tmp_path / "clothes-like", seed=2)
    _write_idx_set(tmp_path / "own", seed=3)
    official = {name: {stem: idx_fingerprint(read_idx(tmp_path / folder / stem)) for stem in IDX_STEMS}
                for name, folder in (("mnist", "digits-like"), ("fashion-mnist", "clothes-like"))}
    monkeypatch.setattr(idx_files, "OFFICIAL_IDX", official)
    with pytest.raises(UserError) as err:
        load_dataset("fashion-mnist", tmp_path / "digits-like")
    assert str(err.value).startswith(f"data folder {tmp_path / 'digits-like'} holds MNIST, not Fashion-MNIST")
    with pytest.raises(UserError, match="holds Fashion-MNIST, not MNIST"):
        load_dataset("mnist", tmp_path / "clothes-like")
    assert len(load_dataset("mnist", tmp_path / "digits-like", splits=("test",)).test) == 20
    assert len(load_dataset("fashion-mnist", tmp_path / "own", splits=("test",)).test) == 20  # unknown files: read


def test_idx_fingerprint_needs_enough_records_and_sees_the_first_ones_only():
    images = np.random.default_rng(0).integers(0, 256, (FINGERPRINT_RECORDS + 5, 28, 28), dtype=np.uint8)
    assert idx_fingerprint(images[:FINGERPRINT_RECORDS - 1]) is None
    changed = images.copy()
    changed[-1] = 0
    assert idx_fingerprint(images) == idx_fingerprint(changed) == idx_fingerprint(images[:FINGERPRINT_RECORDS])
    changed[0, 0, 0] ^= 1
    assert idx_fingerprint(changed) != idx_fingerprint(images)


@pytest.mark.parametrize("name, folder, holds", [("fashion-mnist", "mnist", "MNIST, not Fashion-MNIST"),
                                                 ("mnist", "fashion-mnist", "Fashion-MNIST, not MNIST")])
def test_real_idx_folders_are_told_apart(data_dir, name, folder, holds):
    with pytest.raises(UserError, match=f"data folder {data_dir / folder} holds {holds}"):
        load_dataset(name, data_dir / folder)
    for stem in IDX_STEMS:  # the table is each official file's fingerprint
        assert idx_fingerprint(read_idx(data_dir / folder / f"{stem}.gz")) == OFFICIAL_IDX[folder][stem]


def test_read_idx_rejects_garbage(tmp_path):
    bad = tmp_path / "x-idx1-ubyte.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x01\x02")
    with pytest.raises(UserError, match="cannot read idx"):
        read_idx(bad)
