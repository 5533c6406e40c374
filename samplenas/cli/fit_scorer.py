"""`samplenas fit-scorer --run RUN --labelled CELLS.jsonl`: weights of a combined scorer, learned from
architectures whose accuracy is known; writes RUN/scorer_fit.json and prints the scorer for `search`."""

from __future__ import annotations

from pathlib import Path

from samplenas.cli.options import add_evaluation_options, evaluation_overrides
from samplenas.cli.threads import add_threads_option
from samplenas.training.choices import SCORER_PARTS


def register(subparsers) -> None:
    p = subparsers.add_parser("fit-scorer", help="learn the weights of a combined scorer from labelled architectures "
                                                 "(writes RUN/scorer_fit.json)")
    p.add_argument("--run", required=True, type=Path, help="folder of a `samplenas train` run")
    p.add_argument("--labelled", required=True, type=Path,
                   help="JSON lines, one architecture each: {\"arch\": [...] or \"readable form\", LABEL: number}, "
                        "e.g. cells trained alone (at least 6)")
    p.add_argument("--label", default="val_accuracy", help="the key of each line's accuracy (default val_accuracy)")
    p.add_argument("--table", type=Path,
                   help="NAS-Bench-101 table (nb101 runs): label each cell with its test accuracy there (mean over "
                        "repeats) instead of --label; the file then needs only \"arch\"")
    p.add_argument("--scorer", default="supernet+params",
                   help=f"the parts to weigh, joined by '+' ({', '.join(SCORER_PARTS)}; default supernet+params)")
    p.add_argument("--objective", default="kendall", choices=("kendall", "weighted"),
                   help="what the weights maximise on the labelled cells: Kendall's tau, or the weighted tau that "
                        "counts the order of the best cells most, what a search's pick depends on (default kendall)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the reference sample, the proxies' minibatch and the cross-validation folds "
                        "(default 0; search uses its own --seed)")
    p.add_argument("--device", help="cpu or cuda (default: a GPU when visible)")
    p.add_argument("--data-dir", help="override the run's data folder")
    add_evaluation_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from samplenas.training.scorer_fit import SCORER_FIT, fit_run_scorer

    report = fit_run_scorer(args.run, args.labelled, args.scorer, args.label, args.device, args.data_dir,
                            evaluation_overrides(args), args.seed, progress=not args.quiet, objective=args.objective,
                            table=args.table)
    measure = "Kendall tau" if args.objective == "kendall" else "weighted tau"
    parts = ", ".join(f"{part} {value:+.3f}" for part, value in report["parts"].items())
    print(f"{report['architectures']} labelled architectures; {measure} of each part: {parts}; "
          f"rank average {report['rank_average']:+.3f}")
    print(f"learned: {report['fitted']:+.3f} on them, {report['cross_validated']:+.3f} "
          f"{report['folds']}-fold cross-validated")
    ranges = ", ".join(f"{part} {low:g}-{high:g}" for part, (low, high) in report["near_best"].items())
    print(f"weights within {report['near_best_tolerance']:g} of the best fit: {ranges}")
    print(f"scorer: {report['scorer']}")
    print(f"use it: samplenas search --run {args.run} --scorer '{report['scorer']}'")
    print(f"written: {args.run / SCORER_FIT}")
    return 0
