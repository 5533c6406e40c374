"""`samplenas nb101 pareto`: NSGA-II for the accuracy–cost front on a NAS-Bench-101 table (OUT/pareto.json + PNG)."""

from __future__ import annotations

from pathlib import Path

from samplenas.cli.options import output_folder
from samplenas.strict_json import dumps

COSTS = ("macs", "params")  # samplenas.benchmarks.nb101_pareto.COST_COLUMNS, kept numpy-free here


def register(subparsers) -> None:
    p = subparsers.add_parser("pareto", help="NSGA-II for the accuracy-cost Pareto front on the table "
                                             "(writes OUT/pareto.json and OUT/pareto.png)")
    p.add_argument("--table", required=True, help="NAS-Bench-101 .h5 table (`nb101 convert` makes it from the npz)")
    p.add_argument("--cost", choices=COSTS, default="macs",
                   help="cost objective: macs (the table's FLOPs column, every cell) or params (the cells whose "
                        "count the table holds); default macs")
    p.add_argument("--queries", type=int, default=300, help="table queries (distinct cells) of the search")
    p.add_argument("--population", type=int, default=20, help="NSGA-II population size (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--max-params", type=int, help="propose only cells with at most this many parameters")
    p.add_argument("--max-flops", "--max-macs", dest="max_macs", type=int,
                   help="propose only cells with at most this many FLOPs (the table's flops_thop)")
    p.add_argument("--out", required=True, type=output_folder, help="folder for pareto.json and pareto.png")
    p.add_argument("--json", action="store_true", help="print pareto.json")
    p.set_defaults(func=run)


def run(args) -> int:
    from samplenas.benchmarks import nb101_pareto as pareto
    from samplenas.benchmarks.nasbench101 import NASBench101
    from samplenas.spaces import SPACES
    from samplenas.training.checkpoint import save_json

    bench = NASBench101(args.table)
    space = SPACES["nb101"]()
    objectives = pareto.TableObjectives(bench, args.cost)
    budget = pareto.combine_budgets(objectives.known_budget(),
                                    pareto.table_budget(bench, space, args.max_params, args.max_macs))
    trial = pareto.run_nsga2(space, objectives, args.queries, args.seed, budget, args.population)
    _, true_points = objectives.true_front()
    front = pareto.front_entries(space, objectives, trial.archs, trial.points)
    report = {
        "space": "nb101", "source": str(Path(args.table)), "objectives": [args.cost, "accuracy"],
        "queries": len(trial.archs), "seed": args.seed, "budget": dict(budget.limits) if budget else {},
        "hypervolume_fraction": pareto.hypervolume_fraction(trial.points, true_points),
        "architectures": front,
        "true_front": [{args.cost: float(c), "accuracy": float(1 - e)} for c, e in true_points],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "pareto.json", report)
    pareto.plot_front(out / "pareto.png", trial.points, trial.points[pareto.non_dominated(trial.points)],
                      true_points, args.cost, f"NAS-Bench-101: {len(trial.archs)} queries, seed {args.seed}")
    if args.json:
        print(dumps(report, indent=2))
        return 0
    print(f"{len(front)} cells on the front of {len(trial.archs)} queried; hypervolume "
          f"{100 * report['hypervolume_fraction']:.1f} % of the true front's")
    print(f"{'point':>5}  {args.cost:>14}  {'accuracy':>8}  architecture")
    for entry in front:
        print(f"{entry['point']:>5}  {entry[args.cost]:>14,.0f}  {100 * entry['accuracy']:>7.2f}%  {entry['arch']}")
    print(f"written: {out / 'pareto.json'}, {out / 'pareto.png'}")
    print(f"next: samplenas retrain --from {out / 'pareto.json'} --point K ...")
    return 0
