"""What NAS-Bench-101's own trainings (4, 12, 36 and 108 epochs) would pick among each search's cells.

Each budget's validation accuracy, as the table holds it, is used as a picker among each search's cells and as a
ranker of cells near the table's top.

Why: the pipeline's pick falls short of the table's top 2 % although every search scores such cells, and every
training signal a CPU affords orders its finalists weakly. The table says how much training a picker needs before
it tells those cells apart, at the benchmark's own scale (its full-width network and recipe), for the cells whose
validation accuracies it holds (samplenas' npz table: 30,001 of them; the official file: every cell). Test
accuracy is 108 epochs, repeat 0, as everywhere in these studies; each budget's validation accuracy is its
repeat --val-repeat (the 4-, 12- and 36-epoch ones are separate, shorter trainings).

  random cells  Kendall tau / Spearman rho (bootstrap 95 %) of each budget's validation accuracy against the test
                accuracy over --cells random cells and over every cell in the table's top 2 %, and the expected
                pick of a search that scores 80 random cells by it (exact over every draw of 80).
  searches      each e2e search's first K cells in its own order (--kept K ...; a search keeping fewer is left
                out of K), every cell replaced by a stand-in: one of the --standins cells nearest to it in test
                accuracy among the cells with validation accuracies, drawn afresh in each of --draws draws. The
                pick of budget B (val-B: the stand-in with the highest validation accuracy, ties to the search's
                order) is judged by the stand-in's own test accuracy and averaged over the draws. 'own' (the
                search's first) and 'oracle' (the best of its K) read the search's real cells; 'oracle-standins'
                (the best stand-in) checks the matching against 'oracle'. Paired differences to 'own' per
                supernet with bootstrap 95 % intervals, as tools/finalists_nb101.py reports them.
  --trained RUN the standalone training of finalists_nb101.py / ceiling_nb101.py runs beside them: the same
                taus of a run's validation accuracy over every cell it trained and over those in the top 2 %.

  python tools/budget_ceiling_nb101.py --out runs/budgets --searches runs/top80-o0 runs/top80-o100 --kept 10 20 80 \
      --trained runs/fin20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ceiling_nb101 import refuse_runs_without_cells, trained_accuracies  # noqa: E402
from e2e_nb101 import DATA, TOP_2_PERCENT, largest_cost_pick, open_table  # noqa: E402
from finalists_nb101 import (  # noqa: E402
    print_rules,
    read_searches,
    refuse_empty_searches,
    summary,
)
from zero_cost_nb101 import PICK_AMONG, bootstrap, expected_pick  # noqa: E402

from samplenas.errors import UserError  # noqa: E402

BUDGETS = (4, 12, 36, 108)  # NB101's training budgets in epochs


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for budget_ceiling.json and budget_ceiling.png")
    p.add_argument("--searches", nargs="+", type=Path, required=True, metavar="E2E_OUT",
                   help="folders of tools/e2e_nb101.py runs (SAMPLER-seedN/top.json beside checkpoint.pt)")
    p.add_argument("--kept", nargs="+", type=int, default=[10], metavar="K",
                   help="read each search's first K cells; several K are judged side by side (default: 10)")
    p.add_argument("--standins", type=int, default=5,
                   help="a cell's stand-in is drawn from this many cells nearest to it in test accuracy (default 5)")
    p.add_argument("--draws", type=int, default=200, help="stand-in draws per search (default 200)")
    p.add_argument("--cells", type=int, default=300, help="random cells for the tau over random cells (default 300)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the taus (default 1000)")
    p.add_argument("--trained", nargs="+", type=Path, default=[], metavar="RUN",
                   help="tools/finalists_nb101.py or ceiling_nb101.py --out folders: their trainings' taus beside")
    p.add_argument("--val-repeat", type=int, default=0, help="the repeat whose validation accuracies are read")
    p.add_argument("--seed", type=int, default=0, help="seeds the random cells and the stand-in draws")
    p.add_argument("--table", default=str(DATA / "nasbench101" / "nb101_table_repeat0.npz"),
                   help="NB101 table: samplenas HDF5, or the npz it converts from")
    args = p.parse_args(argv)
    if min(args.kept) < 1 or args.standins < 1 or args.draws < 1 or args.cells < 3 or args.resamples < 10:
        p.error("--kept must be >= 1, --standins >= 1, --draws >= 1, --cells >= 3, --resamples >= 10")
    refuse_empty_searches(p, args.searches)
    refuse_runs_without_cells(p, "--trained", args.trained)
    return args


def validation_budgets(table, repeat: int) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Each budget's validation accuracy (%) for every row, and the rows where every budget holds one."""
    known = np.array([], dtype=np.int64)
    if set(BUDGETS) <= set(table.valid_epochs):
        try:
            values = {epochs: 100 * table.values("validation_accuracy", None, epochs=epochs, repeat=repeat)
                      for epochs in BUDGETS}
        except UserError as err:
            sys.exit(f"budget_ceiling: --val-repeat {repeat}: {err}")
        known = np.flatnonzero(np.logical_and.reduce([np.isfinite(v) for v in values.values()]))
    if len(known) < 3:
        budgets = ", ".join(map(str, BUDGETS))
        sys.exit(f"budget_ceiling: the table holds validation accuracies at every budget ({budgets} epochs, repeat "
                 f"{repeat}) for {len(known)} cells; it needs a table that has them")
    return values, known


def nearest_standins(accuracy: np.ndarray, test: np.ndarray, known: np.ndarray, count: int) -> np.ndarray:
    """For each of `accuracy`, the `count` rows of `known` nearest to it in test accuracy (ties: table order),
    one row per cell: the candidates a stand-in is drawn from."""
    order = known[np.lexsort((known, test[known]))]
    ordered = test[order]
    count = min(count, len(order))
    out = np.empty((len(accuracy), count), dtype=np.int64)
    for i, value in enumerate(accuracy):
        at = int(np.searchsorted(ordered, value))
        window = order[max(0, at - count):at + count]  # the nearest `count` lie within `count` either side
        distance = np.abs(test[window] - value)
        out[i] = window[np.lexsort((window, distance))[:count]]
    return out


def standin_picks(candidates: np.ndarray, test: np.ndarray, values: dict[int, np.ndarray], draws: int,
                  rng: np.random.Generator) -> dict:
    """Mean test accuracy each budget picks among one search's stand-ins over `draws` draws, and the best
    stand-in's (the matching's own oracle)."""
    cells = np.arange(len(candidates))
    picks = {f"val-{epochs}": [] for epochs in values} | {"oracle-standins": []}
    for _ in range(draws):
        drawn = candidates[cells, rng.integers(0, candidates.shape[1], len(cells))]
        for epochs, value in values.items():
            picks[f"val-{epochs}"].append(test[drawn[int(np.argmax(value[drawn]))]])
        picks["oracle-standins"].append(test[drawn].max())
    return {rule: float(np.mean(found)) for rule, found in picks.items()}


def random_cells(test, values, known, cells: int, resamples: int, rng: np.random.Generator) -> dict:
    """Each budget's rank agreement with the test accuracy over `cells` random rows of `known` and over every row
    of `known` in the table's top 2 %, and the expected pick among 80 random rows of `known`."""
    sample = np.sort(rng.choice(known, min(cells, len(known)), replace=False))
    top = known[test[known] >= TOP_2_PERCENT]
    out = {"rows": sample.tolist(), "top_2_percent_cells": int(len(top)), "known_cells": int(len(known)), "budgets": {}}
    for epochs, value in values.items():
        found = {"random": bootstrap(value[sample], test[sample], rng, resamples),
                 "pick_of_80": expected_pick(value[known], test[known], PICK_AMONG)}
        if len(top) >= 3:
            found["top_2_percent"] = bootstrap(value[top], test[top], rng, resamples)
        out["budgets"][str(epochs)] = found
    return out


def trained_taus(run: Path, table, test, resamples: int, rng: np.random.Generator) -> dict:
    """A standalone training's rank agreement with the test accuracy over the cells it trained and over those of
    them in the table's top 2 %, as `random_cells` measures the budgets."""
    trained = trained_accuracies(run, lambda arch: int(table.lookup_archs([tuple(arch)])[0]), "budget_ceiling")
    rows = np.array(sorted(trained["cells"]), dtype=np.int64)
    if len(rows) < 3:
        sys.exit(f"budget_ceiling: --trained {run} holds {len(rows)} trained cells; tau needs 3 or more")
    accuracy = np.array([trained["cells"][row] for row in rows])
    top = test[rows] >= TOP_2_PERCENT
    out = {"run": str(run), "settings": trained["settings"], "cells": int(len(rows)),
           "top_2_percent_cells": int(top.sum()), "all": bootstrap(accuracy, test[rows], rng, resamples)}
    if top.sum() >= 3:
        out["top_2_percent"] = bootstrap(accuracy[top], test[rows][top], rng, resamples)
    return out


def searches_as_rows(folders: list[Path], table) -> list[dict]:
    """Every e2e search under `folders` with the table rows of its cells in its order, read once for every K
    judged."""
    return [{"search": search["search"], "supernet": search["supernet"],
             "rows": table.lookup_archs([tuple(entry["encoding"]) for entry in search["entries"]])}
            for search in read_searches(folders)]


def judge_searches(found: list[dict], test, values, known, kept: int, standins: int, draws: int,
                   rng: np.random.Generator) -> tuple[list[dict], int, float]:
    """One row of picks per search keeping at least `kept` cells; how many kept fewer; the largest distance in
    test accuracy between a cell and a stand-in it could draw."""
    rows, short, widest = [], 0, 0.0
    for search in found:
        if len(search["rows"]) < kept:
            short += 1
            continue
        accuracy = test[search["rows"][:kept]]
        candidates = nearest_standins(accuracy, test, known, standins)
        widest = max(widest, float(np.abs(test[candidates] - accuracy[:, None]).max()))
        picks = {"own": float(accuracy[0]), "oracle": float(accuracy.max())}
        picks |= standin_picks(candidates, test, values, draws, rng)
        rows.append({"search": search["search"], "supernet": search["supernet"], "picks": picks})
    return rows, short, widest


def plot(report: dict, path: Path) -> None:
    """Mean pick of each budget's validation accuracy against the epochs it trained, one line per K, with each K's
    own pick and oracle as flat marks and the table's top 2 % as a line."""
    from samplenas.plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    for i, (kept, found) in enumerate(report["searches"].items()):
        if not found["rows"]:
            continue
        rules = found["rules"]
        ax.plot(BUDGETS, [rules[f"val-{e}"]["mean"] for e in BUDGETS], marker="o", color=f"C{i}",
                label=f"first {kept}: the budget's pick")
        ax.axhline(rules["oracle"]["mean"], color=f"C{i}", ls="--", lw=0.8, label=f"first {kept}: their best")
        if i == 0:
            ax.axhline(rules["own"]["mean"], color="gray", ls="-.", lw=0.8, label="the search's own first")
    ax.axhline(TOP_2_PERCENT, color="green", ls=":", lw=1, label=f"table's top 2 % ({TOP_2_PERCENT} %)")
    ax.set_xscale("log")
    ax.set_xticks(BUDGETS, [str(e) for e in BUDGETS])
    ax.set_xlabel("epochs of NB101's own training behind the validation accuracy that picks")
    ax.set_ylabel("pick's table test accuracy (%)")
    ax.set_title(f"the benchmark's trainings picking among a search's cells ({report['searches_read']} searches)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def tau_span(agreement: dict | None) -> str:
    """Kendall tau and its 95 % interval as the printout shows it; 'too few' where there were too few cells."""
    if agreement is None:
        return "too few"
    low, high = agreement["kendall_tau_ci"]
    return f"{agreement['kendall_tau']:6.3f} [{low:+.2f}, {high:+.2f}]"


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    table = open_table(args.table, args.out)
    test = 100 * table.values("test_accuracy", repeat=0)
    values, known = validation_budgets(table, args.val_repeat)
    rng = np.random.default_rng(args.seed)
    floor = largest_cost_pick(table, PICK_AMONG, "flops_thop")["mean"] * 100
    report = {"command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
              "val_repeat": args.val_repeat, "standins": args.standins, "draws": args.draws, "floor": round(floor, 2),
              "random_cells": random_cells(test, values, known, args.cells, args.resamples, rng), "searches": {}}
    report["trained"] = [trained_taus(run, table, test, args.resamples, rng) for run in args.trained]
    found = searches_as_rows(args.searches, table)
    for kept in sorted(set(args.kept)):
        rows, short, widest = judge_searches(found, test, values, known, kept, args.standins, args.draws, rng)
        report["searches"][str(kept)] = {"rows": rows, "kept_fewer": short, "widest_standin_gap": round(widest, 3),
                                         "rules": summary(rows, floor, "own") if rows else {}}
    report["searches_read"] = max(len(found["rows"]) for found in report["searches"].values())
    report["seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "budget_ceiling.json").write_text(json.dumps(report, indent=1))
    plot(report, args.out / "budget_ceiling.png")
    cells = report["random_cells"]
    print(f"validation accuracies at {', '.join(map(str, BUDGETS))} epochs for {cells['known_cells']:,} cells "
          f"({cells['top_2_percent_cells']} in the table's top 2 %)")
    print(f"{'budget':>8s}  {'tau, random cells':>26s}  {'tau, top 2 %':>26s}  pick of 80 random")
    for epochs, found in cells["budgets"].items():
        print(f"{epochs + ' ep':>8s}  {tau_span(found.get('random')):>26s}  {tau_span(found.get('top_2_percent')):>26s}"
              f"  {found['pick_of_80']:.2f} %")
    for t in report["trained"]:
        print(f"{'trained':>8s}  {tau_span(t['all']):>26s}  {tau_span(t.get('top_2_percent')):>26s}  "
              f"(over the {t['cells']} cells it trained, "
              f"{t['top_2_percent_cells']} in the top 2 %: {t['run']})")
    for kept, found in report["searches"].items():
        print(f"first {kept} cells of {len(found['rows'])} searches ({found['kept_fewer']} kept fewer; "
              f"stand-ins within {found['widest_standin_gap']:.2f} points):")
        print_rules(found["rules"], "to own, per supernet")
    print(f"written: {args.out / 'budget_ceiling.json'}, {args.out / 'budget_ceiling.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
