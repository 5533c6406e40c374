"""Check `NASBench101Supernet.build` against the NAS-Bench-101 table's parameter counts.

Every cell whose official trainable-parameter count is known (30,001 rows of
`nb101_table_repeat0.npz`) is encoded, built by the supernet's `build` on the meta device (shapes
only, no memory or initialisation cost), and its trainable parameters are compared with the table.

    python tools/check_nb101_params.py [--table PATH] [--limit N] [--workers W]
"""

from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from samplenas.spaces.nasbench101 import CANONICAL_OPS, INPUT, OUTPUT, ModelSpec
from samplenas.supernet.cost import count_params
from samplenas.supernet.nasbench101 import NASBench101Supernet

DEFAULT_TABLE = (
    Path(os.environ.get("SAMPLENAS_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    / "nasbench101"
    / "nb101_table_repeat0.npz"
)

_supernet: NASBench101Supernet | None = None


def table_spec(num_vertices: int, adjacency: np.ndarray, op_codes: np.ndarray) -> ModelSpec:
    """The ModelSpec of one table row (op codes: -1 input, 0..2 CANONICAL_OPS, -2 output)."""
    n = int(num_vertices)
    ops = [INPUT] + [CANONICAL_OPS[int(c)] for c in op_codes[1 : n - 1]] + [OUTPUT]
    return ModelSpec(np.asarray(adjacency[:n, :n], dtype=np.int64), ops)


def built_params(row: tuple) -> int:
    """Trainable parameters of `build` for one (num_vertices, adjacency, ops) row."""
    global _supernet
    with torch.device("meta"):
        if _supernet is None:
            _supernet = NASBench101Supernet()
        return count_params(_supernet.build(_supernet.space.encode(table_spec(*row))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--limit", type=int, default=None, help="check only the first N known rows")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.table.exists():
        print(f"error: table not found: {args.table}", file=sys.stderr)
        return 2
    with np.load(args.table, allow_pickle=False) as table:
        known = np.flatnonzero(~np.isnan(table["params"]))[: args.limit]
        rows = list(zip(table["num_vertices"][known], table["adjacency"][known], table["ops"][known]))
        expected = table["params"][known].astype(np.int64)
        hashes = table["hash"][known]
    torch.set_num_threads(1)
    with Pool(args.workers) as pool:
        counts = np.array(
            list(tqdm(pool.imap(built_params, rows, chunksize=64), total=len(rows), desc="cells")), dtype=np.int64
        )
    mismatched = np.flatnonzero(counts != expected)
    print(f"{len(rows) - len(mismatched)} / {len(rows)} cells match the table's trainable parameter counts")
    for i in mismatched[:10]:
        print(f"  mismatch {hashes[i].decode()}: built {counts[i]:,}, table {expected[i]:,}")
    return 0 if len(mismatched) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
