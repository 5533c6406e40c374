"""Build the tiny test data sets in tests/fixtures/data from the full copies, in their official formats.

A fresh clone has no full data folder, so the test suite runs on these small cuts of it (tests that
need the complete sets are marked `full_data` and skip with a note of what to download). Every file
keeps its official format, so the loaders under test read exactly what they read from the real files:

- mnist/, fashion-mnist/: the four idx files, gzipped, holding the first TRAIN_PER_CLASS training
  and TEST_PER_CLASS test images of each class, in their original order;
- cifar10-jpeg/cifar10_jpeg_q75.tar.gz: `train/<class>/NNNN.jpg` and `test/<class>/NNNN.jpg`, the
  first such images of each class, their JPEG bytes copied unchanged;
- nasbench101/nb101_sample_200.tfrecord: the first NB101_RECORDS records of the 1k-record sample, the
  frames copied byte for byte (the official tfrecord layout);
- nasbench101/nb101_table_sample.npz: the rows of the full npz table for those cells plus a seeded
  draw of other cells and a few named ones the tests need (the two smallest cells, the cell of the
  official README example, the five best), the columns unchanged, no pickled objects.

Deterministic: the same sources give byte-identical outputs (gzip and tar times are fixed).

    python tools/make_test_fixtures.py --data ../shared/data --out tests/fixtures/data
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from samplenas.benchmarks.tfrecord import iter_records  # noqa: E402
from samplenas.errors import UserError  # noqa: E402
from samplenas.spaces.nasbench101 import ModelSpec  # noqa: E402

TRAIN_PER_CLASS, TEST_PER_CLASS = 30, 10  # idx sets: 300 training and 100 test images
CIFAR_TRAIN_PER_CLASS, CIFAR_TEST_PER_CLASS = 20, 10  # 200 training and 100 test JPEGs
NB101_RECORDS = 200
NB101_OTHER_ROWS = 100  # extra cells drawn from the rest of the npz, most of them without params/times
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_ARCHIVE = "cifar10_jpeg_q75.tar.gz"
# The official README example (an Inception-like cell), queried verbatim by the compat tests.
README_CELL = ModelSpec(np.array([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
                                  [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
                                  [0, 0, 0, 0, 0, 0, 0]]),
                        ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu",
                         "maxpool3x3", "output"])


def gzipped(data: bytes) -> bytes:
    """`data` gzipped with no file name and time zero in the header (the same bytes every run)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as f:
        f.write(data)
    return buffer.getvalue()


def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file: two zero bytes, type 0x08 (uint8), the number of dimensions, big-endian sizes, data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def read_idx_gz(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first `per_class` examples of every class, in file order."""
    keep = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])
    return np.sort(keep)


def idx_fixture(source: Path, out: Path) -> None:
    arrays = {stem: read_idx_gz(source / f"{stem}.gz") for stem in IDX_STEMS}
    for prefix, per_class in (("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)):
        keep = first_per_class(arrays[f"{prefix}-labels-idx1-ubyte"], per_class)
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            stem = f"{prefix}-{kind}"
            write(out / f"{stem}.gz", gzipped(idx_bytes(arrays[stem][keep])))


def cifar_fixture(source: Path, out: Path) -> None:
    """The first images of each class per split, with their folders, in the archive's own order."""
    limits = {"train": CIFAR_TRAIN_PER_CLASS, "test": CIFAR_TEST_PER_CLASS}
    kept: list[tuple[tarfile.TarInfo, bytes | None]] = []
    with tarfile.open(source, "r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if member.isdir() and parts[0] in limits:
                kept.append((member, None))
            elif member.isfile() and len(parts) == 3 and int(Path(parts[2]).stem) < limits[parts[0]]:
                kept.append((member, tar.extractfile(member).read()))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in sorted(kept, key=lambda item: item[0].name):
            info = tarfile.TarInfo(member.name)
            info.type, info.mode, info.mtime, info.size = member.type, member.mode, member.mtime, len(data or b"")
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    write(out / CIFAR_ARCHIVE, gzipped(buffer.getvalue()))


def nb101_fixture(source: Path, out: Path) -> None:
    tfrecord = source / "nb101_sample_1k.tfrecord"
    data = tfrecord.read_bytes()
    records = list(iter_records(tfrecord))
    end = records[NB101_RECORDS][0] if len(records) > NB101_RECORDS else len(data)
    write(out / f"nb101_sample_{NB101_RECORDS}.tfrecord", data[:end])
    hashes = [json.loads(payload)[0].encode() for _, payload in records[:NB101_RECORDS]]

    with np.load(source / "nb101_table_repeat0.npz", allow_pickle=False) as npz:
        table = {name: npz[name] for name in npz.files}
    rows = set(np.searchsorted(table["hash"], np.array(hashes, "S32")).tolist())
    rows |= set(np.flatnonzero(table["num_vertices"] <= 3).tolist())  # the 2- and 3-vertex cells
    # the five best; a stable sort, so ties (three cells share 94.42 %) resolve the same on every CPU
    rows |= set(np.argsort(table["test_acc_108_rep0"], kind="stable")[-5:].tolist())
    rows.add(int(np.searchsorted(table["hash"], README_CELL.hash_spec().encode())))
    others = np.setdiff1d(np.arange(len(table["hash"])), sorted(rows))
    rows |= set(np.random.default_rng(0).choice(others, NB101_OTHER_ROWS, replace=False).tolist())
    keep = np.array(sorted(rows))  # the full table's order: sorted by hash
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: column[keep] for name, column in table.items()})
    write(out / "nb101_table_sample.npz", deterministic_zip(buffer.getvalue()))


def deterministic_zip(data: bytes) -> bytes:
    """The npz (a zip) rewritten with fixed member times (numpy stamps the current time)."""
    import zipfile

    source, target = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(fixed, source.read(info.filename))
    return target.getvalue()


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"{path}  {len(data):,} bytes")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="the full data folder (mnist/, fashion-mnist/, cifar10-jpeg/, nasbench101/)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "data")
    args = parser.parse_args(argv)
    needed = [args.data / name / stem for name in ("mnist", "fashion-mnist") for stem in (f"{IDX_STEMS[0]}.gz",)]
    needed += [args.data / "cifar10-jpeg" / CIFAR_ARCHIVE, args.data / "nasbench101" / "nb101_sample_1k.tfrecord",
               args.data / "nasbench101" / "nb101_table_repeat0.npz"]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        print(f"make_test_fixtures: error: missing {missing[0]} (pass --data FOLDER)", file=sys.stderr)
        return 2
    try:
        for name in ("mnist", "fashion-mnist"):
            idx_fixture(args.data / name, args.out / name)
        cifar_fixture(args.data / "cifar10-jpeg" / CIFAR_ARCHIVE, args.out / "cifar10-jpeg")
        nb101_fixture(args.data / "nasbench101", args.out / "nasbench101")
    except (UserError, OSError, ValueError, tarfile.TarError) as err:
        print(f"make_test_fixtures: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
