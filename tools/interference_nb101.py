"""Interference in the NB101 supernet: how well one cell learns when it shares weights with K other cells.

One probe cell (the first of the ceiling's cells, seed 12345) is trained through a fresh supernet for
`--steps` steps with the ceiling's recipe, while every step draws a cell uniformly from a pool of K cells
that holds the probe (K = 1: the probe alone; 0: every cell of the space, the uniform sampler's training);
a "standalone" row trains the probe as an ordinary network. Each row reports the training loss over the
last 50 steps (of whichever cells were drawn) and the probe's validation accuracy after BN recalibration,
as the supernet scores it. K = 1 against standalone checks the supernet code; the rest measure how fast
sharing with more cells slows learning down. Rows are appended to OUT/rows.jsonl as they finish (a run
resumes where it stopped); OUT/interference.json holds them all with the command.

    python tools/interference_nb101.py --out runs/interference --pools 1 2 8 0 --steps 300
    python tools/interference_nb101.py --smoke --out /tmp/interference
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ceiling_nb101 import finished_records, fit_and_score  # noqa: E402
from e2e_nb101 import DATA, draw_random_cells  # noqa: E402
from zero_cost_nb101 import PROXY_NETWORK  # noqa: E402

from samplenas.training.train_config import DEFAULT_LR  # noqa: E402

STANDALONE = "standalone"  # the row that trains the probe as an ordinary network


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for rows.jsonl and interference.json")
    p.add_argument("--data", default="cifar10-jpeg")
    p.add_argument("--data-dir", default=str(DATA))
    p.add_argument("--network", default=json.dumps(PROXY_NETWORK))
    p.add_argument("--pools", type=int, nargs="+", default=[1, 2, 8, 0],
                   help="pool sizes K, each a row (0: every cell of the space; default 1 2 8 0)")
    p.add_argument("--steps", type=int, default=300, help="training steps of batch 64 per row (default 300)")
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"peak learning rate, cosine (default {DEFAULT_LR})")
    p.add_argument("--eval-examples", type=int, default=2000, help="validation images (default 2000)")
    p.add_argument("--bn-batches", type=int, default=2, help="BN recalibration batches before scoring")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the data order and the draws")
    p.add_argument("--smoke", action="store_true", help="seconds: digits, a tiny network")
    if p.parse_known_args(argv)[0].smoke:
        p.set_defaults(data="digits", pools=[1, 0], steps=3, eval_examples=64, bn_batches=1,
                       network=json.dumps({"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}))
    args = p.parse_args(argv)
    if args.steps < 1 or any(k < 0 for k in args.pools) or len(set(args.pools)) != len(args.pools):
        p.error("--steps must be >= 1 and --pools distinct sizes >= 0 (0: every cell)")
    if not args.lr > 0:
        p.error(f"--lr must be positive, got {args.lr}")
    return args


def pool_network(supernet, probe: tuple, pool: int, seed: int):
    """The supernet trained on a pool of `pool` cells that holds the probe (0: every cell of the space), scoring
    the probe."""
    space = supernet.space
    rng = np.random.default_rng([seed, pool])
    others = []
    while pool and len(others) < pool - 1:
        arch = space.sample_uniform(rng)
        if arch != probe and arch not in others:
            others.append(arch)
    return shared_supernet(supernet, [probe, *others] if pool else None, rng, probe)


def shared_supernet(supernet, cells: list[tuple] | None, rng: np.random.Generator, scored: tuple):
    """The supernet as one network: a forward that builds a graph (a training step) runs a cell drawn uniformly
    from `cells` (None: from the whole space) with `rng`, one without gradient (BN recalibration, scoring)
    runs `.scored`. `.draws` is `rng` (its state goes into a resumable training's checkpoint)."""
    import torch

    class SharedSupernet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.supernet = supernet
            self.scored = scored
            self.draws = rng

        def forward(self, x):
            if not torch.is_grad_enabled():
                return self.supernet(x, self.scored)
            arch = supernet.space.sample_uniform(rng) if cells is None else cells[int(rng.integers(len(cells)))]
            return self.supernet(x, arch)

    return SharedSupernet()


def train_row(settings: dict, probe: tuple, pool: int | str) -> dict:
    """One row: the probe trained as an ordinary network (`pool` STANDALONE) or through a fresh supernet on a
    pool of `pool` cells."""
    from samplenas.supernet.factory import make_supernet, network_settings

    def network(recipe, data):
        supernet = make_supernet("nb101", network_settings("nb101", recipe.network, data.info))
        return supernet.build(probe) if pool == STANDALONE else pool_network(supernet, probe, pool, settings["seed"])

    return {"pool": pool, **fit_and_score(settings, network)}


def main(argv=None) -> int:
    args = parse_args(argv)
    from samplenas.spaces import SPACES

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    space = SPACES["nb101"]()
    probe = tuple(draw_random_cells(1)[0])
    settings = {"data": args.data, "data_dir": args.data_dir, "network": json.loads(args.network),
                "seed": args.seed, "steps": args.steps, "eval_examples": args.eval_examples,
                "bn_batches": args.bn_batches, "lr": args.lr}
    log = args.out / "rows.jsonl"
    done = finished_records(log, settings, lambda record: record["pool"])
    print(f"probe cell {space.to_str(probe)}; {args.steps} steps per row", flush=True)
    with log.open("a") as out:
        for pool in [STANDALONE, *args.pools]:
            if pool not in done:
                done[pool] = {**train_row(settings, probe, pool), "settings": settings}
                out.write(json.dumps(done[pool]) + "\n")
                out.flush()
            record = done[pool]
            name = pool if pool == STANDALONE else ("every cell" if pool == 0 else f"pool of {pool}")
            print(f"{name:>12}: training loss (last 50 steps) {record['loss_last_50']:.3f}, "
                  f"probe val {100 * record['val_accuracy']:.2f} %, {record['seconds']} s", flush=True)
    rows = [done[pool] for pool in [STANDALONE, *args.pools]]
    report = {"command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
              "probe": list(probe), "settings": settings, "rows": rows,
              "seconds": round(time.perf_counter() - started, 1)}
    (args.out / "interference.json").write_text(json.dumps(report, indent=1))
    print(report["command"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
