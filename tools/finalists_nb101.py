"""A search's finalists trained alone: does a short standalone training pick better among them than the search?

Reads the searches of end-to-end runs (`tools/e2e_nb101.py --out OUT`: OUT/SAMPLER-seedN/top.json, searched with
--top 10 or more), takes each search's best ten (--finalists K: K) in its own order (the order before any
re-scoring), trains every distinct cell among them alone with the ceiling's recipe (`tools/ceiling_nb101.py`:
the official cell, SGD 0.1 cosine, batch 64, seed 0, scored on 2,000 validation images), and judges by the table
which cell each rule picks:

  own          the search's first
  alone-K      the finalist of the best K with the highest standalone validation accuracy (ties: the search's order);
               K = 3, 5, 10, and with --finalists K the best K the search kept
  alone-10+params   the rank average of that accuracy and the parameter count within the ten
  loss-10      the lowest training loss over the last 50 steps of the same training (under half an epoch: images
               the network had not seen yet)
  alone+loss-10     the rank average of the standalone accuracy and that loss
  alone+search-order-10   the rank average of the standalone accuracy and the search's own order
  params-10    the largest parameter count among the ten (`search --rescore-top 10 --rescore-scorer params`)
  oracle-10    the best of the ten by the table (what no rule can beat); with --finalists K also oracle-K
  with --paired-against OUT (the same searches' finalists trained by another run of this tool, another recipe):
  paired-alone-10   alone-10 by OUT's training
  alone+paired-10   the rank average of both trainings' accuracies

Each rule's mean pick, its per-supernet paired difference to the baseline rule's pick (--baseline: the search's
own pick, or with --paired-against OUT's alone-10; a supernet's searches averaged, bootstrap 95 % interval over
supernets) and how many picks fall below the largest-FLOPs pick of 80 random cells. Cells trained are kept in
OUT/cells.jsonl (a stopped run resumes; a cell shared by several searches trains once); the report in
OUT/finalists.json, each search's pick against its own in OUT/finalists.png.

  python tools/finalists_nb101.py --out runs/finalists --searches runs/e2e-s25 runs/e2e-s50 --workers 2
  python tools/finalists_nb101.py --out runs/fin-w32 --searches runs/e2e-s25 --workers 2 \
      --network '{"stem_channels": 32, "num_stacks": 3, "cells_per_stack": 1}' --paired-against runs/finalists
  python tools/finalists_nb101.py --smoke --out /tmp/fin --searches /tmp/e2e-smoke    # seconds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ceiling_nb101 import (  # noqa: E402
    add_image_size_argument,
    add_study_arguments,
    finished_records,
    image_size_setting,
    parse_study_args,
    train_cell,
    trained_accuracies,
)
from e2e_nb101 import TOP_2_PERCENT, largest_cost_pick, open_table  # noqa: E402
from zero_cost_nb101 import PICK_AMONG  # noqa: E402

from samplenas.training.train_config import DEFAULT_LR  # noqa: E402

FINALISTS = 10  # the search's best ten: what --rescore-top 10 re-orders, what every rule but alone-K / oracle-K reads
RULE_TOPS = (3, 5, 10)  # alone-K for these K
BOOTSTRAP = 10_000


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    add_study_arguments(p, "folder for cells.jsonl and finalists.json")
    p.add_argument("--searches", nargs="+", type=Path, required=True, metavar="E2E_OUT",
                   help="folders of tools/e2e_nb101.py runs whose searches kept at least ten cells (--top 10;\n"
                        "--finalists K: K)")
    p.add_argument("--steps", type=int, default=300, help="training steps of batch 64 per cell (default 300)")
    p.add_argument("--workers", type=int, default=1, help="cells trained side by side, one thread each")
    p.add_argument("--finalists", type=int, default=FINALISTS, metavar="K",
                   help=f"the search's best K are trained, judged by alone-K and oracle-K beside the ten's rules\n"
                        f"(default {FINALISTS}; the searches must keep K: e2e_nb101.py --top K)")
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"peak learning rate (default {DEFAULT_LR})")
    p.add_argument("--paired-against", type=Path, default=None, metavar="OUT",
                   help="another run of this tool over the same searches (another recipe): its alone-10 becomes\n"
                        "the baseline, and the rank average of both trainings a rule")
    p.add_argument("--baseline", default=None, metavar="RULE",
                   help="the rule the paired differences are taken to (default: own; with --paired-against:\n"
                        "paired-alone-10)")
    add_image_size_argument(p)
    args = parse_study_args(p, argv, smoke_steps=3)
    if args.steps < 1 or args.workers < 1 or not args.lr > 0 or args.finalists < FINALISTS:
        p.error(f"--steps and --workers must be >= 1, --lr positive and --finalists at least {FINALISTS}")
    rules = rule_names(args.paired_against is not None, args.finalists)
    args.baseline = args.baseline or ("paired-alone-10" if args.paired_against is not None else "own")
    if args.baseline not in rules:
        p.error(f"--baseline {args.baseline}: not a rule here (one of {', '.join(rules)})")
    refuse_empty_searches(p, args.searches)
    return args


def search_tops(folders: list[Path]) -> list[Path]:
    """Every e2e search's top.json under `folders` (OUT/SAMPLER-seedN/top.json), folder by folder, each sorted."""
    return [top_json for folder in folders for top_json in sorted(folder.glob("*-seed*/top.json"))]


def refuse_empty_searches(parser: argparse.ArgumentParser, folders: list[Path]) -> None:
    """A usage error for a --searches folder that holds no search of the e2e tool."""
    for folder in folders:
        if not search_tops([folder]):
            parser.error(f"--searches {folder}: no SAMPLER-seedN/top.json there (an e2e_nb101.py --out folder)")


def search_order(top_json: Path) -> list[dict]:
    """The entries of the search written to `top_json`, in the search's own order (`own_order`)."""
    return own_order(json.loads(top_json.read_text()))


def own_order(report: dict) -> list[dict]:
    """A top.json report's entries in the search's own order: a re-scored search's finalists by the objective
    the search gave them (`search_objective`, ties by `search_rank`; top.json written before `search_rank`
    existed has only the objective, ties then in the order the file lists them)."""
    entries = report["top"]
    if "rescored" in report:
        k = report["rescored"]["top"]
        entries = sorted(entries[:k], key=lambda e: (e["search_objective"], e.get("search_rank", 0))) + entries[k:]
    return entries


def supernet_identity(run: Path) -> str:
    """The trained weights a search ran on (a digest of RUN/checkpoint.pt): the e2e tool's --reuse links one
    supernet into several folders, and their searches are one supernet's, averaged before it is compared."""
    digest = hashlib.sha256()
    with (run / "checkpoint.pt").open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def read_searches(folders: list[Path]) -> list[dict]:
    """Every search of `folders`: its folder, the supernet it ran on, and its entries in its own order."""
    return [{"search": str(top_json.parent), "supernet": supernet_identity(top_json.parent),
             "entries": search_order(top_json)} for top_json in search_tops(folders)]


def searches(folders: list[Path], finalists: int) -> list[dict]:
    """Every search of `folders` with its best `finalists` entries; one too short is refused."""
    found = read_searches(folders)
    for search in found:
        if len(search["entries"]) < finalists:
            sys.exit(f"finalists: {Path(search['search']) / 'top.json'} keeps {len(search['entries'])} cells, "
                     f"fewer than {finalists} (search --top)")
        search["entries"] = search["entries"][:finalists]
    return found


def first_best(values) -> int:
    """Index of the highest value, ties to the earliest (the search's order)."""
    values = np.asarray(values, dtype=np.float64)
    return int(np.flatnonzero(values == values.max())[0])


def picks(accuracy, alone, params, loss, paired=None) -> dict:
    """The table accuracy each rule picks among one search's finalists (all in the search's order): `alone` and
    `loss` from this run's training, `paired` the standalone accuracies of --paired-against's run. Every rule
    reads the first ten but alone-K and oracle-K, K the number of finalists given beyond ten."""
    from scipy.stats import rankdata

    kept = len(accuracy)
    every_accuracy, every_alone = accuracy, alone
    accuracy, alone, params, loss = accuracy[:FINALISTS], alone[:FINALISTS], params[:FINALISTS], loss[:FINALISTS]
    by_alone = rankdata(alone)
    out = {"own": accuracy[0]}
    out.update({f"alone-{k}": accuracy[first_best(alone[:k])] for k in RULE_TOPS})
    if kept > FINALISTS:
        out[f"alone-{kept}"] = every_accuracy[first_best(every_alone)]
    out["alone-10+params"] = accuracy[first_best(by_alone + rankdata(params))]
    out["loss-10"] = accuracy[first_best(-np.asarray(loss))]
    out["alone+loss-10"] = accuracy[first_best(by_alone + rankdata(-np.asarray(loss)))]
    out["alone+search-order-10"] = accuracy[first_best(by_alone + rankdata(-np.arange(len(alone))))]
    out["params-10"] = accuracy[first_best(params)]
    if paired is not None:
        out["paired-alone-10"] = accuracy[first_best(paired)]
        out["alone+paired-10"] = accuracy[first_best(by_alone + rankdata(paired))]
    out["oracle-10"] = float(np.max(accuracy))
    if kept > FINALISTS:
        out[f"oracle-{kept}"] = float(np.max(every_accuracy))
    return {rule: float(value) for rule, value in out.items()}


def rule_names(paired: bool, finalists: int = FINALISTS) -> list[str]:
    """The rules `picks` judges for `finalists` per search, in its order."""
    ones = np.ones(finalists)
    return list(picks(ones, ones, ones, ones, ones if paired else None))


def summary(rows: list[dict], floor: float, baseline: str = "own") -> dict:
    """Per rule: mean and spread over searches, paired difference to the `baseline` rule's pick per supernet (its
    searches averaged) with a bootstrap 95 % interval, picks below `floor`."""
    by_supernet = defaultdict(list)
    for row in rows:
        by_supernet[row["supernet"]].append(row["picks"])
    rng = np.random.default_rng(0)
    out = {}
    for rule in rows[0]["picks"]:
        values = np.array([row["picks"][rule] for row in rows])
        means = np.array([np.mean([p[rule] - p[baseline] for p in found]) for found in by_supernet.values()])
        resampled = means[rng.integers(0, len(means), (BOOTSTRAP, len(means)))].mean(axis=1)
        out[rule] = {"mean": round(float(values.mean()), 3), "std": round(float(values.std(ddof=1)), 3)
                     if len(values) > 1 else 0.0, "lowest": round(float(values.min()), 2),
                     "below_floor": int((values < floor).sum()),
                     "paired": round(float(means.mean()), 3),
                     "paired_95": [round(float(v), 3) for v in np.percentile(resampled, [2.5, 97.5])],
                     "higher": int((means > 0).sum()), "lower": int((means < 0).sum())}
    return out


def print_rules(rules: dict, paired_to: str) -> None:
    """`summary`'s rules as a table: mean pick, the paired difference (`paired_to` heads it) with its interval
    and the supernets higher / lower, picks below the floor, the lowest pick."""
    print(f"{'rule':22s} {'mean pick':>14s}  {paired_to:>30s}  {'below floor':>11s}  lowest")
    for rule, s in rules.items():
        low, high = s["paired_95"]
        print(f"{rule:22s} {s['mean']:8.2f} ± {s['std']:.2f}  {s['paired']:+8.3f} [{low:+.2f}, {high:+.2f}] "
              f"{s['higher']:>3d}+/{s['lower']:d}-  {s['below_floor']:>11d}  {s['lowest']:.2f}")


def plot(rows: list[dict], floor: float, path: Path) -> None:
    """Each search's pick by its finalists' standalone training against its own pick, with the largest-FLOPs
    pick and the table's top 2 % as lines: above the diagonal the training picked better."""
    from samplenas.plotting import pyplot, save_figure

    plt = pyplot()
    own = np.array([row["picks"]["own"] for row in rows])
    alone = np.array([row["picks"]["alone-10"] for row in rows])
    low, high = min(own.min(), alone.min(), floor) - 0.2, max(own.max(), alone.max(), TOP_2_PERCENT) + 0.2
    fig, ax = plt.subplots(figsize=(6.2, 6))
    ax.scatter(own, alone, s=24, color="C0", alpha=0.7, label=f"{len(rows)} searches")
    ax.plot([low, high], [low, high], color="black", lw=0.8)
    for line, style in ((floor, dict(color="red", ls="--", label=f"largest-FLOPs pick ({floor:.2f} %)")),
                        (TOP_2_PERCENT, dict(color="green", ls=":", label=f"table's top 2 % ({TOP_2_PERCENT} %)"))):
        ax.axhline(line, lw=0.8, **style)
        ax.axvline(line, lw=0.8, color=style["color"], ls=style["ls"])
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("the search's own pick: table test accuracy (%)")
    ax.set_ylabel("the best of its ten best trained alone: table test accuracy (%)")
    ax.set_title("above the diagonal: the standalone training picks better")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    save_figure(fig, path)


def paired_run(folder: Path, found: list[dict], row_of) -> dict:
    """--paired-against's standalone accuracies by table row, checked to hold every finalist of `found`."""
    run = trained_accuracies(folder, row_of, "finalists")
    missing = {row for search in found for row in search["rows"][:FINALISTS]} - run["cells"].keys()  # its rules read
    if missing:
        sys.exit(f"finalists: --paired-against {folder} has not trained {len(missing)} of these searches' finalists")
    return run


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    found = searches(args.searches, args.finalists)
    args.out.mkdir(parents=True, exist_ok=True)
    table = open_table(args.table, args.out)
    settings = {"data": args.data, "data_dir": args.data_dir, "network": json.loads(args.network),
                "seed": args.seed, "steps": args.steps, "eval_examples": args.eval_examples,
                "bn_batches": args.bn_batches, "lr": args.lr, "inherit": None,
                **image_size_setting(args.image_size)}

    def row_of(encoding) -> int:
        """The table row of a cell: isomorphic encodings share it, and train once."""
        return int(table.lookup_archs([tuple(encoding)])[0])

    log = args.out / "cells.jsonl"
    done = finished_records(log, settings, lambda record: row_of(record["arch"]))
    for search in found:
        search["rows"] = [row_of(entry["encoding"]) for entry in search["entries"]]
    paired = None if args.paired_against is None else paired_run(args.paired_against, found, row_of)  # before training
    todo = {}
    for rank in range(args.finalists):  # every search's first finalists before anyone's later ones
        for search in found:
            if search["rows"][rank] not in done:
                todo.setdefault(search["rows"][rank], search["entries"][rank]["encoding"])
    print(f"{len(found)} searches, {len(done)} of their distinct finalists trained, {len(todo)} to train "
          f"({args.steps} steps each, {args.workers} at a time)", flush=True)
    with ProcessPoolExecutor(args.workers) as pool, log.open("a") as out:
        for record in pool.map(train_cell, [settings] * len(todo), [list(a) for a in todo.values()]):
            record["settings"] = settings
            out.write(json.dumps(record) + "\n")
            out.flush()
            done[row_of(record["arch"])] = record
            print(f"{len(done)} trained  val {100 * record['val_accuracy']:.2f} %  {record['seconds']} s", flush=True)
    floor = largest_cost_pick(table, PICK_AMONG, "flops_thop")["mean"] * 100
    rows = []
    for search in found:
        accuracy = 100 * table.values("test_accuracy", np.array(search["rows"]), repeat=0)
        alone = [done[row]["val_accuracy"] for row in search["rows"]]
        loss = [done[row]["loss_last_50"] for row in search["rows"]]
        other = None if paired is None else [paired["cells"][row] for row in search["rows"][:FINALISTS]]
        rows.append({"search": search["search"], "supernet": search["supernet"],
                     "picks": picks(accuracy, alone, [entry["params"] for entry in search["entries"]], loss, other)})
    report = {"command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
              "settings": settings, "finalists": args.finalists, "searches": len(rows),
              "supernets": len({r["supernet"] for r in rows}),
              "paired_against": None if paired is None else {"run": str(args.paired_against),
                                                             "settings": paired["settings"]},
              "floor": round(floor, 2), "baseline": args.baseline, "rules": summary(rows, floor, args.baseline),
              "rows": rows,
              "cells_trained": len(done), "cell_seconds": round(sum(r["seconds"] for r in done.values()), 1),
              "seconds": round(time.perf_counter() - started, 1)}
    (args.out / "finalists.json").write_text(json.dumps(report, indent=1))
    plot(rows, floor, args.out / "finalists.png")
    print(f"{report['searches']} searches of {report['supernets']} supernets; floor (largest-FLOPs pick) {floor:.2f} %")
    paired_to = f"to {args.baseline}, per supernet"
    print_rules(report["rules"], paired_to)
    print(f"written: {args.out / 'finalists.json'}, {args.out / 'finalists.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
