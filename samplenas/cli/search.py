"""`samplenas search --run RUN`: evolutionary search on a trained supernet; writes RUN/top.json."""

from __future__ import annotations

from pathlib import Path

from samplenas.cli.options import add_ensemble_option, add_evaluation_options, evaluation_overrides
from samplenas.cli.scoring import add_scorer_option
from samplenas.cli.threads import add_threads_option
from samplenas.training.choices import COST_METRICS, SEARCH_RESCORE_DEFAULTS, SEED_SOURCES


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="evolutionary search on a trained supernet (writes RUN/top.json)")
    p.add_argument("--run", required=True, type=Path, help="folder of a `samplenas train` run")
    add_ensemble_option(p)
    p.add_argument("--population", type=int, default=16, help="population size (default 16)")
    p.add_argument("--generations", type=int, default=4,
                   help="generations after the initial one (default 4; 0: the initial population alone, a random "
                        "search over its draws)")
    p.add_argument("--children", type=int, help="candidates per generation (default: the population size)")
    p.add_argument("--tournament-size", type=int, default=4,
                   help="candidates drawn per parent selection; the best becomes a parent (default 4)")
    p.add_argument("--crossover-prob", type=float, default=0.5, help="share of children made by crossover")
    p.add_argument("--seeds", default="sampler",
                   help=f"initial population, {' or '.join(SEED_SOURCES)}: drawn from the run's learned sampler "
                        "(VAENAS Alg. 2 line 13; its random state as the run saved it, so the same draw "
                        "whatever --seed) or uniformly from --seed (default: sampler)")
    p.add_argument("--cost-weight", type=float, default=0.0,
                   help="Deep-n-Cheap w_c: minimise (1 - acc) + w_c * cost / cost_ref (default 0)")
    p.add_argument("--cost-metric", default="params",
                   help=f"what the cost term counts, {' or '.join(COST_METRICS)} (multiply-adds; default: params)")
    p.add_argument("--cost-ref", type=float, help="c0 (default: the largest cost in the initial population)")
    p.add_argument("--max-params", type=int,
                   help="propose only architectures with at most this many parameters (default: the run's limits)")
    p.add_argument("--max-flops", "--max-macs", dest="max_macs", type=int,
                   help="propose only architectures with at most this many multiply-adds")
    p.add_argument("--max-latency-ms", type=float,
                   help="propose only architectures predicted at most this fast by --latency-table")
    p.add_argument("--latency-table", help="latency lookup table of the target device, for --max-latency-ms")
    p.add_argument("--keep-degenerate", action="store_true",
                   help="also score cells that compute no operation (NB101 cells pruned to input->output); "
                        "skipped by default")
    p.add_argument("--pareto", action="store_true",
                   help="NSGA-II for the front of score against --cost-metric (population + generations x children "
                        "architectures scored); writes RUN/pareto.json and RUN/pareto.png")
    p.add_argument("--top", type=int, default=5, help="architectures kept in top.json (default 5)")
    p.add_argument("--rescore-top", type=int, metavar="K",
                   help="score the best K again, on --rescore-examples validation images (the reference sample "
                        "too) and/or by --rescore-scorer, and order them by that; 0: no second scoring (default: "
                        f"the space's: {rescoring_defaults()}; elsewhere none)")
    p.add_argument("--rescore-examples", type=int, metavar="N",
                   help="validation images per architecture for --rescore-top")
    p.add_argument("--rescore-scorer", metavar="SCORER",
                   help="score --rescore-top's finalists by this scorer (names as --scorer; default: the search's "
                        "own), e.g. params: the largest of the search's best K; standalone: the best of them "
                        "trained alone for a few hundred steps")
    p.add_argument("--seed", type=int, default=0, help="random seed of the evolution (default 0)")
    p.add_argument("--device", help="cpu or cuda (default: a GPU when visible)")
    p.add_argument("--data-dir", help="override the run's data folder")
    p.add_argument("--arch", action="append", metavar="ARCH",
                   help="only score this architecture on the supernet (repeatable; no search)")
    add_evaluation_options(p)
    add_scorer_option(p, default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=run)


def rescoring_defaults() -> str:
    """The spaces' default second scorings, in --help's words."""
    return "; ".join(f"{space}: the best {default['top']} by {default['scorer']} on {default['examples']} images"
                     for space, default in SEARCH_RESCORE_DEFAULTS.items())


def run(args) -> int:
    from samplenas.training.search import SearchConfig, describe_rescoring, score_given, search

    if args.arch:
        for result in score_given(args.run, args.arch, args.device, args.data_dir, evaluation_overrides(args),
                                  args.ensemble):
            print(f"score {result['score']:.4f}  params {result['params']:,}  MACs {result['macs']:,}  "
                  f"{result['described']}")
        return 0

    config = SearchConfig(
        population=args.population, generations=args.generations, children=args.children,
        tournament_size=args.tournament_size, crossover_prob=args.crossover_prob, seeds=args.seeds,
        cost_weight=args.cost_weight, cost_metric=args.cost_metric, cost_ref=args.cost_ref,
        max_params=args.max_params, max_macs=args.max_macs, max_latency_ms=args.max_latency_ms,
        latency_table=args.latency_table, top=args.top, seed=args.seed,
        keep_degenerate=args.keep_degenerate, scorer=args.scorer,
        rescore_top=args.rescore_top, rescore_examples=args.rescore_examples, rescore_scorer=args.rescore_scorer,
        standalone_steps=args.standalone_steps, standalone_downscale=args.standalone_downscale,
    )
    if args.pareto:
        return run_pareto(args, config)
    report = search(args.run, config, args.device, args.data_dir, progress=not args.quiet,
                    evaluation=evaluation_overrides(args), ensemble=args.ensemble)
    members = f", an ensemble of {len(report['ensemble'])} supernets" if "ensemble" in report else ""
    print(f"searched {report['evaluated']} {report['space']} architectures (seeds: {report['seeds']}, "
          f"scorer: {report['scorer']}{members})")
    if "rescored" in report:
        default = "" if args.rescore_top is not None else f" ({report['space']}'s default; --rescore-top 0: none)"
        finalists = min(report["rescored"]["top"], report["evaluated"])
        how = describe_rescoring(report["rescored"], report["scorer"])
        print(f"the best {finalists} scored again ({how}), and ordered by that{default}")
    print(f"{'rank':>4}  {'score':>8}  {'objective':>9}  {'params':>10}  {'MACs':>12}  architecture")
    for entry in report["top"]:
        print(f"{entry['rank']:>4}  {entry['score']:>8.4f}  {entry['objective']:>9.4f}  {entry['params']:>10,}  "
              f"{entry['macs']:>12,}  {entry['described']}")
    print(f"written: {args.run / 'top.json'}")
    return 0


def run_pareto(args, config) -> int:
    from samplenas.training.pareto_search import FIGURE, PARETO, pareto_search

    report = pareto_search(args.run, config, args.device, args.data_dir, progress=not args.quiet,
                           evaluation=evaluation_overrides(args), ensemble=args.ensemble)
    metric = report["objectives"][0]
    print(f"{len(report['architectures'])} architectures on the front of {report['queries']} scored "
          f"(scorer: {report['scorer']})")
    print(f"{'point':>5}  {'score':>8}  {metric:>12}  architecture")
    for entry in report["architectures"]:
        print(f"{entry['point']:>5}  {entry['score']:>8.4f}  {entry[metric]:>12,}  {entry['described']}")
    print(f"written: {args.run / PARETO}, {args.run / FIGURE}")
    return 0
