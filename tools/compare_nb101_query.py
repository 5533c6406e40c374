"""Single NAS-Bench-101 `query(spec)` rates of an earlier samplenas and this one, side by side in one process.

On a shared machine only a ratio measured in one run means something. The earlier package is a folder
holding its `samplenas/` (e.g. `git archive REV samplenas | tar -x -C /tmp/before`). Usage:

    python tools/compare_nb101_query.py --before /tmp/before [--table /tmp/nb101_full.h5] [--queries 3000]

Both open the same table (convert one with `samplenas nb101 convert` or tools/bench_nb101.py) and answer
the same cells, never queried before, in the table's vertex order and in a random forward order; the
two must return the same accuracies. Each rate is the best of 3 alternating passes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]


def load(root: Path) -> tuple:
    """(NASBench101 class, ModelSpec class, _cell_hash) of the samplenas package under `root`."""
    for name in [m for m in sys.modules if m == "samplenas" or m.startswith("samplenas.")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        bench = importlib.import_module("samplenas.benchmarks.nasbench101")
        space = importlib.import_module("samplenas.spaces.nasbench101")
    finally:
        sys.path.remove(str(root))
    return bench.NASBench101, space.ModelSpec, space._cell_hash



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--table", type=Path, default=Path("/tmp/nb101_full.h5"))
    parser.add_argument("--queries", type=int, default=3000)
    args = parser.parse_args()
    for path, what in ((args.before / "samplenas", "an earlier samplenas package"), (args.table, "a converted table")):
        if not path.exists():
            print(f"error: {path} does not exist ({what})", file=sys.stderr)
            return 2
    warnings.simplefilter("ignore")  # the shared table lacks most training times: one warning per object
    versions = {"before": load(args.before), "after": load(HERE)}
    from samplenas.benchmarks.nasbench101_index import random_forward_order  # this tree's, loaded last
    benches = {}
    for name, (bench_class, _, _) in versions.items():
        start = time.perf_counter()
        benches[name] = bench_class(args.table, seed=0)
        print(f"open, {name}: {(time.perf_counter() - start) * 1e3:.0f} ms")
    rng = np.random.default_rng(0)
    reference = benches["after"]
    cells = {"table's vertex order": [], "random forward order": []}
    for row in rng.choice(len(reference), args.queries, replace=False):
        fixed, _ = reference.get_metrics_from_hash(reference.hashes([row])[0].decode())
        matrix, ops = fixed["module_adjacency"], fixed["module_operations"]
        order = random_forward_order(matrix, rng)
        cells["table's vertex order"].append((matrix, ops))
        cells["random forward order"].append((matrix[np.ix_(order, order)], [ops[v] for v in order]))
    best: dict[tuple[str, str], float] = {}
    answers: dict[str, list[float]] = {}
    for _ in range(3):
        for label, forms in cells.items():
            for name, (_, spec_class, cell_hash) in versions.items():
                specs = [spec_class(matrix, ops) for matrix, ops in forms]
                cell_hash.cache_clear()
                start = time.perf_counter()
                accuracies = [benches[name].query(spec)["test_accuracy"] for spec in specs]
                seconds = time.perf_counter() - start
                best[label, name] = min(seconds, best.get((label, name), seconds))
                if answers.setdefault(label, accuracies) != accuracies:
                    print(f"error: {name} answers differently on cells in the {label}", file=sys.stderr)
                    return 1
    for label in cells:
        before, after = best[label, "before"], best[label, "after"]
        print(f"first-time query(spec), {label}: before {args.queries / before:,.0f}/s, "
              f"after {args.queries / after:,.0f}/s ({before / after:.1f}x)")
    print(f"command: python {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
