"""How much a zero-cost proxy filter lifts the cells a sampler proposes, judged by the NAS-Bench-101 table.

For each seed, `--cells` cells come from the uniform sampler (uniform over the table's distinct cells)
and as many from `proxy-filter` over uniform with the parameter count of each cell's network at the
proxy size (stem 16, 3 stacks x 1 cell, as `supernet.cost` counts it) and `--pool` candidates per cell.
The filter is asked two ways: all cells in one call (the best `cells` of `pool` x `cells` draws, as an
evaluation round asks) and one cell per call (the best of `pool`, as a training step asks). Prints the
mean and best table test accuracy (repeat 0) of each set, as mean ± std over seeds. No training: about
a minute of one CPU core at the defaults, nearly all of it building networks to count their parameters.

    python tools/proxy_filter_nb101.py --table RUN/nb101.h5 [--cells 80] [--pool 4] [--seeds 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_nb101 import DATA, open_table  # noqa: E402

PROXY_SIZE = {"stem_channels": 16, "num_stacks": 3, "cells_per_stack": 1}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", default=str(DATA / "nasbench101" / "nb101_table_repeat0.npz"),
                   help="NB101 table: samplenas HDF5, or the npz it converts from (into --out)")
    p.add_argument("--out", type=Path, default=Path("runs/proxy-filter-nb101"), help="where an npz is converted")
    p.add_argument("--cells", type=int, default=80)
    p.add_argument("--pool", type=int, default=4)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if min(args.cells, args.pool, args.seeds, args.threads) < 1:
        p.error("--cells, --pool, --seeds and --threads must be at least 1")
    return args


def draws(space, supernet, seed: int, cells: int, pool: int) -> dict[str, list]:
    """The cells of each sampler for one seed."""
    from samplenas.samplers.proxy_filter import ProxyFilterSampler
    from samplenas.samplers.uniform import UniformSampler

    def filtered() -> ProxyFilterSampler:
        sampler = ProxyFilterSampler(space, seed=seed, pool=pool)
        return sampler.attach_scorer(lambda arch: float(supernet.param_count(arch)))

    one_per_call = filtered()
    return {"uniform": UniformSampler(space, seed=seed).sample(cells),
            "filter, one call": filtered().sample(cells),
            "filter, one per call": [one_per_call.sample(1)[0] for _ in range(cells)]}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from samplenas.errors import UserError
    from samplenas.spaces import SPACES
    from samplenas.supernet.factory import make_supernet

    try:
        table = open_table(args.table, args.out)
    except (OSError, UserError) as err:
        sys.exit(f"proxy_filter_nb101: {err}")
    space = SPACES["nb101"](table=str(table.path))  # the converted HDF5 when --table is the npz
    supernet = make_supernet("nb101", PROXY_SIZE)
    results: dict[str, dict[str, list[float]]] = {}
    for seed in range(args.seeds):
        for name, cells in draws(space, supernet, seed, args.cells, args.pool).items():
            accuracy = 100 * table.values("test_accuracy", table.lookup_archs(cells), repeat=0)
            entry = results.setdefault(name, {"mean": [], "best": [], "params": []})
            entry["mean"].append(float(np.mean(accuracy)))
            entry["best"].append(float(np.max(accuracy)))
            entry["params"].append(float(np.mean([supernet.param_count(a) for a in cells])))
    print(f"NB101 table, {args.cells} cells per set, pool {args.pool}, params at stem 16 / 3 x 1, "
          f"{args.seeds} seeds (mean ± std over seeds)")
    print(f"{'cells from':<22} {'mean acc. (%)':>15} {'best acc. (%)':>15} {'mean params':>13}")
    for name, entry in results.items():
        mean, best = np.array(entry["mean"]), np.array(entry["best"])
        print(f"{name:<22} {mean.mean():>8.2f} ± {mean.std():<4.2f} {best.mean():>8.2f} ± {best.std():<4.2f} "
              f"{np.mean(entry['params']):>13,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
