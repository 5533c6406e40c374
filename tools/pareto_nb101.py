"""How close do searches come to NAS-Bench-101's true accuracy-cost front? NSGA-II against random search
and single-objective evolution with a cost penalty, hypervolume as a fraction of the true front's.

For each cost (the table's FLOPs column over every cell; parameters over the cells whose count the table
holds) the true front is computed from the whole table; each method runs `--seeds` trials of `--queries`
distinct table queries (test accuracy, repeat 0), and the hypervolume of the non-dominated set of the first
Q queries (Q in `--at`) is divided by the true front's, in the (log10 cost, 1 - accuracy) plane with the
reference point at the true front's nadir plus 10 % of its range (`samplenas.benchmarks.nb101_pareto`).
Prints the table, writes OUT/nb101_pareto.json (default docs/data/) and the figure (default docs/).

    python tools/pareto_nb101.py                                     # 10 seeds, 300 queries, both costs
    python tools/pareto_nb101.py --smoke --out /tmp/pareto           # seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_nb101 import DATA, open_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", default=str(DATA / "nasbench101" / "nb101_table_repeat0.npz"),
                   help="NB101 table (.h5, or the shared .npz, converted once into --work)")
    p.add_argument("--work", type=Path, default=Path("/tmp/pareto_nb101"), help="folder for the converted table")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--at", default="150,300", help="query counts the hypervolume is reported at")
    p.add_argument("--costs", default="macs,params")
    p.add_argument("--penalty", type=float, default=0.05,
                   help="penalised evolution's weight: accuracy - w * cost / largest cost")
    p.add_argument("--data-out", type=Path, default=REPO / "docs" / "data" / "nb101_pareto.json")
    p.add_argument("--figure", type=Path, default=REPO / "docs" / "pareto_nb101.png")
    p.add_argument("--workers", type=int, default=2, help="processes running the seeds (default 2)")
    p.add_argument("--smoke", action="store_true", help="2 seeds, 40 queries, FLOPs only, under /tmp")
    args = p.parse_args(argv)
    if args.smoke:
        args.seeds, args.queries, args.at, args.costs = 2, 40, "20,40", "macs"
        args.data_out, args.figure = args.work / "nb101_pareto.json", args.work / "pareto_nb101.png"
    return args


def study(args) -> dict:
    from samplenas.benchmarks import nb101_pareto as pareto

    args.work.mkdir(parents=True, exist_ok=True)
    bench = open_table(args.table, args.work)
    at = [int(q) for q in args.at.split(",")]
    report = {"command": "python tools/pareto_nb101.py " + " ".join(sys.argv[1:]), "date": time.strftime("%Y-%m-%d"),
              "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}",
              "seeds": args.seeds, "queries": args.queries, "penalty": args.penalty, "costs": {}}
    figures = {}
    for cost in args.costs.split(","):
        objectives = pareto.TableObjectives(bench, cost)
        _, true_points = objectives.true_front()
        results, best_trial = {}, {}
        for method in pareto.METHODS:
            started = time.perf_counter()
            jobs = [(bench.path, cost, method, seed, args.queries, args.penalty) for seed in range(args.seeds)]
            with Pool(args.workers) as pool:
                trials = pool.map(run_trial, jobs)
            fractions = {q: [pareto.hypervolume_fraction(points[:q], true_points) for points in trials] for q in at}
            best_trial[method] = trials[0]
            results[method] = {str(q): {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1
                                        else 0.0, "values": v} for q, v in fractions.items()}
            results[method]["seconds"] = round(time.perf_counter() - started, 1)
            print(f"{cost:6s} {method:8s} " + "  ".join(
                f"HV@{q}: {100 * results[method][str(q)]['mean']:.2f}±{100 * results[method][str(q)]['std']:.2f} %"
                for q in at), flush=True)
        report["costs"][cost] = {"cells": int(objectives.known.sum()), "true_front": len(true_points),
                                 "methods": results}
        figures[cost] = (true_points, best_trial)
        write(report, figures, args)  # after each cost: a long params study leaves the FLOPs one written
    return report


def write(report: dict, figures: dict, args) -> None:
    plot(figures, args.figure, args.queries)
    args.data_out.parent.mkdir(parents=True, exist_ok=True)
    args.data_out.write_text(json.dumps(report, indent=1) + "\n")


_objectives: dict = {}


def run_trial(job: tuple) -> np.ndarray:
    """(cost, error) of one trial's queries in order; each process opens the table once per cost."""
    from samplenas.benchmarks import nb101_pareto as pareto
    from samplenas.benchmarks.nasbench101 import NASBench101
    from samplenas.spaces import SPACES

    path, cost, method, seed, queries, penalty = job
    if cost not in _objectives:
        _objectives[cost] = pareto.TableObjectives(NASBench101(path), cost)
    objectives = _objectives[cost]
    options = {"weight": penalty} if method == "penalty" else {}
    trial = pareto.RUNNERS[method](SPACES["nb101"](), objectives, queries, seed, objectives.known_budget(), **options)
    return trial.points


def plot(figures: dict, path: Path, queries: int) -> None:
    from samplenas.plotting import pyplot, save_figure
    from samplenas.samplers.pareto import non_dominated

    plt = pyplot()
    fig, axes = plt.subplots(1, len(figures), figsize=(6 * len(figures), 4.2), squeeze=False)
    colours = {"nsga2": "tab:red", "random": "tab:blue", "penalty": "tab:green"}
    for ax, (cost, (true_points, trials)) in zip(axes[0], figures.items()):
        ax.step(true_points[:, 0], 100 * (1 - true_points[:, 1]), where="post", c="k", lw=1.5, label="true front")
        for method, points in trials.items():
            front = points[non_dominated(points)]
            ax.step(front[:, 0], 100 * (1 - front[:, 1]), where="post", c=colours[method], marker="o", ms=3,
                    label=f"{method} (seed 0)")
        ax.set_xscale("log")
        ax.set_xlabel("FLOPs (table)" if cost == "macs" else "parameters (cells with a known count)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(84, 95.2)
        ax.set_title(f"NAS-Bench-101 fronts after {queries} queries")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def main(argv=None) -> int:
    args = parse_args(argv)
    study(args)
    print(f"wrote {args.data_out} and {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
