"""Weight sharing at equal compute: a supernet trained only on the cells it must rank, against training each alone.

The ceiling study trains each of its cells alone; the interference study shows that sharing weights with
more cells slows each one down. This asks the question a user with a fixed budget asks: given N candidate
cells (the ceiling's first N, seed 12345) and `--steps` training steps in all, does one supernet whose every
step draws a candidate uniformly (a candidate-pool supernet, GreedyNAS-like but without the greedy filter)
rank them better than spending the same steps on each cell alone (N runs of steps / N)? The supernet is
trained with the ceiling's recipe, each candidate is then scored like the ceiling's cells (BN recalibrated,
the same validation images), and Kendall tau / Spearman rho against the table come with bootstrap 95 %
intervals; `--paired-against` a ceiling run on the same cells gives the paired difference, and the τ
between the two runs' scores (do the shared weights order the cells as training each alone does?). The trained
weights are kept in OUT (a rerun with the same settings scores them again without training; other settings are
refused there), and so is an unfinished training's state every `--checkpoint-every` steps (a rerun continues
it to the weights an uninterrupted run would reach); OUT/pool.json holds the result with the command.

    python tools/pool_nb101.py --out runs/pool50-2500 --cells 50 --steps 2500 --paired-against runs/ceiling-s50
    python tools/pool_nb101.py --smoke --out /tmp/pool
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ceiling_nb101 import (  # noqa: E402
    add_study_arguments,
    fit,
    paired_val,
    parse_study_args,
    print_study,
    ranking_report,
    train_config,
    validation_accuracy,
)
from e2e_nb101 import draw_random_cells, open_table  # noqa: E402
from interference_nb101 import shared_supernet  # noqa: E402
from zero_cost_nb101 import bootstrap  # noqa: E402

from samplenas.training.train_config import DEFAULT_LR  # noqa: E402

WEIGHTS = "supernet.pt"  # the trained shared weights
TRAINED = "trained.json"  # the settings they were trained with, and the training's loss and time
PROGRESS = "training.pt"  # the unfinished training's state, with its settings: a rerun continues from it


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    add_study_arguments(p, "folder for the weights and pool.json",
                        "candidate cells, the ceiling's first N (default 50)",
                        "a ceiling_nb101.py run on the same cells: tau minus its tau, paired bootstrap")
    p.add_argument("--steps", type=int, default=2500, help="training steps of batch 64 in all (default 2500)")
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"peak learning rate, cosine (default {DEFAULT_LR})")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--checkpoint-every", type=int, default=500, metavar="STEPS",
                   help="write the training's state to OUT every STEPS steps; a rerun continues from it (default 500)")
    args = parse_study_args(p, argv, smoke_steps=8)
    if args.steps < 1 or args.threads < 1 or args.checkpoint_every < 1:
        p.error("--steps, --threads and --checkpoint-every must be >= 1")
    if not args.lr > 0:
        p.error(f"--lr must be positive, got {args.lr}")
    return args


def pool_supernet(supernet, cells: list[tuple], seed: int):
    """The supernet trained on the candidate `cells`, each step drawing one uniformly; `.scored` is the cell a
    forward without gradient (BN recalibration, scoring) runs."""
    return shared_supernet(supernet, cells, np.random.default_rng([seed, len(cells)]), cells[0])


def trained_network(settings: dict, cells: list[tuple], out: Path, threads: int, every: int):
    """(network, data, training record): the pool supernet of `settings`, trained now (continuing an unfinished
    training kept in OUT) or, when OUT holds weights trained with the same settings, loaded from there. Weights
    or a training of other settings are refused: one run per folder."""
    import torch

    from samplenas.errors import UserError
    from samplenas.supernet.factory import make_supernet, network_settings
    from samplenas.training.checkpoint import load_checkpoint, save_checkpoint, save_json
    from samplenas.training.data import load_dataset

    def network(recipe, data):
        supernet = make_supernet("nb101", network_settings("nb101", recipe.network, data.info))
        return pool_supernet(supernet, cells, settings["seed"])

    def refuse_other(found: dict, what: str) -> None:
        if found != settings:
            sys.exit(f"pool_nb101: {out} holds {what} with other settings; choose another --out")

    record_path, weights_path, progress_path = out / TRAINED, out / WEIGHTS, out / PROGRESS
    if record_path.exists() and weights_path.exists():
        record = json.loads(record_path.read_text())
        refuse_other(record.get("settings"), "a supernet trained")
        config = train_config(settings)
        data = load_dataset(config.data, config.data_dir, ("train", "val"), seed=config.seed)
        net = network(config.recipe(), data).to(memory_format=torch.channels_last)
        net.load_state_dict(torch.load(weights_path, weights_only=True))
        print(f"scoring the weights trained before in {out} ({record['seconds']} s)", flush=True)
        return net, data, record
    progress = progress_path.with_suffix(".json")  # the unfinished training's settings, beside its state
    if progress_path.exists():
        refuse_other(json.loads(progress.read_text()) if progress.exists() else None, "an unfinished training")
        try:
            load_checkpoint(progress_path)  # unreadable: one line, before any training
        except UserError as err:
            sys.exit(f"pool_nb101: {err}; remove it to train from the start")
    else:
        save_json(progress, settings)
    net, data, losses, seconds = fit(settings, network, threads, progress=True, checkpoint=progress_path,
                                     every=every)
    record = {"settings": settings, "final_loss": losses[-1], "loss_last_50": float(np.mean(losses[-50:])),
              "seconds": seconds}
    save_checkpoint(weights_path, net.state_dict())  # the weights first: a record without them is never read
    save_json(record_path, record)
    progress_path.unlink(missing_ok=True)
    progress.unlink(missing_ok=True)
    return net, data, record


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    cells = [tuple(arch) for arch in draw_random_cells(args.cells, args.random_cells, args.table)]
    reference = None if args.paired_against is None else paired_val(args.paired_against, cells, "pool_nb101")
    args.out.mkdir(parents=True, exist_ok=True)
    table = open_table(args.table, args.out)
    settings = {"data": args.data, "data_dir": args.data_dir, "network": json.loads(args.network),
                "seed": args.seed, "steps": args.steps, "eval_examples": args.eval_examples,
                "bn_batches": args.bn_batches, "lr": args.lr, "cells": args.cells}
    print(f"training one supernet on {len(cells)} candidate cells for {args.steps} steps "
          f"(as many as {args.steps / len(cells):.0f} steps on each alone)", flush=True)
    net, data, trained = trained_network(settings, cells, args.out, args.threads, args.checkpoint_every)
    val = []
    for arch in cells:
        net.scored = arch
        val.append(validation_accuracy(net, data, settings))
    accuracy = table.values("test_accuracy", table.lookup_archs([list(a) for a in cells]), repeat=0)
    report = {"command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
              "settings": settings, "random_cells": args.random_cells,
              "training": {k: v for k, v in trained.items() if k != "settings"},
              "cells": [{"arch": list(arch), "val_accuracy": v, "test_accuracy": float(table_accuracy)}
                        for arch, v, table_accuracy in zip(cells, val, accuracy)],
              **ranking_report(val, accuracy, [float(net.supernet.param_count(arch)) for arch in cells],
                               args.paired_against, reference),
              "seconds": round(time.perf_counter() - started, 1)}
    if args.paired_against is not None:  # do the shared weights order the cells as training each alone does?
        agreement = bootstrap(val, reference, np.random.default_rng(2026))
        report["paired_against"].update(agreement_tau=agreement["kendall_tau"],
                                        agreement_tau_ci=agreement["kendall_tau_ci"])
    (args.out / "pool.json").write_text(json.dumps(report, indent=1))
    print_study(f"pool supernet, {args.steps} steps", len(cells), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
