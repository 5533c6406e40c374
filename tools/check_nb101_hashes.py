"""Re-hash every cell of the shared NAS-Bench-101 npz with the official hashing and count the matches.

External check of `samplenas.spaces.nasbench101` (ModelSpec pruning + hash_module) against the
423,624 keys of the table. Usage:

    python tools/check_nb101_hashes.py [--npz PATH] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from samplenas.benchmarks.nasbench101_records import op_names
from samplenas.spaces.nasbench101 import ModelSpec

DEFAULT_NPZ = Path(__file__).resolve().parents[1].parent / "shared/data/nasbench101/nb101_table_repeat0.npz"
CHUNK = 2000


def hash_rows(chunk: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[str]:
    adjacency, ops, num_vertices = chunk
    return [ModelSpec(a[:n, :n], op_names(o, n)).hash_spec() for a, o, n in zip(adjacency, ops, num_vertices)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npz", type=Path, default=DEFAULT_NPZ)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with np.load(args.npz, allow_pickle=False) as npz:
        hashes, adjacency, ops, nv = npz["hash"], npz["adjacency"], npz["ops"], npz["num_vertices"].astype(int)
    chunks = [(adjacency[i:i + CHUNK], ops[i:i + CHUNK], nv[i:i + CHUNK]) for i in range(0, len(hashes), CHUNK)]
    start = time.perf_counter()
    computed: list[str] = []
    with multiprocessing.Pool(args.workers) as pool:
        for result in tqdm(pool.imap(hash_rows, chunks), total=len(chunks), desc="hashing", unit="chunk"):
            computed.extend(result)
    matches = int(np.sum(np.array(computed, dtype="S32") == hashes))
    seconds = time.perf_counter() - start
    print(f"{matches:,}/{len(hashes):,} hashes match the official keys "
          f"({seconds:.0f} s, {args.workers} workers)  command: python {' '.join(sys.argv)}")
    return 0 if matches == len(hashes) else 1


if __name__ == "__main__":
    sys.exit(main())
