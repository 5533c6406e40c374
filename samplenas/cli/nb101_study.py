"""`samplenas nb101 study`: offline sampler/search studies on a NAS-Bench-101 table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from samplenas.cli.options import samplers_text
from samplenas.cli.threads import add_threads_option
from samplenas.errors import UserError
from samplenas.strict_json import dumps

PROTOCOLS = ("maxk", "search", "distribution")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "study", help="sampler studies on the table: max-of-K (VAENAS Table 4), search curves, distributions")
    p.add_argument("--table", required=True, help="NAS-Bench-101 .h5 table (`nb101 convert` makes it from the npz)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="maxk",
                   help="maxk: best of K sampled cells; search: best found against table queries; "
                        "distribution: accuracies of sampled cells (default: maxk)")
    p.add_argument("--sampler", action="append", dest="samplers", metavar="SPEC",
                   help=f"NAME[:key=value,...] with NAME one of {samplers_text()}; repeatable "
                        "(default: uniform and evolution); "
                        "`init=NAME` seeds evolution from another (warmed-up) sampler")
    p.add_argument("--ks", default="10,50,100,300", help="maxk: sample counts K")
    p.add_argument("--seeds", type=int, default=20, help="maxk: number of seeds")
    p.add_argument("--budget", type=int, default=150, help="search: table queries per trial")
    p.add_argument("--trials", type=int, default=100, help="search: number of trials")
    p.add_argument("--batch", type=int, default=1, help="search: cells proposed between observations")
    p.add_argument("--n", type=int, default=5000, help="distribution: cells drawn per sampler")
    p.add_argument("--warmup", type=int, default=0,
                   help="observe this many uniformly drawn cells first (Table 4: 6000)")
    p.add_argument("--noise", type=float, default=0.0,
                   help="std of Gaussian noise on warm-up accuracies, as a fraction (0.001 = 0.1 %%)")
    p.add_argument("--max-params", type=int,
                   help="every sampler proposes only cells with at most this many parameters (cells whose count "
                        "the table lacks are refused)")
    p.add_argument("--max-flops", "--max-macs", dest="max_macs", type=int,
                   help="every sampler proposes only cells with at most this many FLOPs (the table's flops_thop)")
    p.add_argument("--metric", default="test_accuracy", help="table metric used as ground truth")
    p.add_argument("--repeat", default="0", help="repeat used as ground truth: an index or 'mean'")
    p.add_argument("--out", help="folder for PROTOCOL.json (the numbers) and PROTOCOL.png (the plot), e.g. "
                                 "maxk.json and maxk.png")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_threads_option(p)  # the learned samplers (VAE, LSTM) train torch networks
    p.set_defaults(func=run_study)


def split_options(text: str) -> list[str]:
    """Split at the commas outside brackets and braces, so that a JSON value may hold commas."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    return [item for item in [*items, text[start:]] if item]


def parse_spec(spec: str) -> tuple[str, dict]:
    """`vae:top_percent=25,epochs=30` -> ("vae", {"top_percent": 25, "epochs": 30}); a value may be
    JSON with commas inside, e.g. `predictor:inner_options={"epsilon_inc":0.1,"epsilon_max":0.7}`."""
    name, _, rest = spec.partition(":")
    options = {}
    for item in split_options(rest):
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"sampler option {item!r} in {spec!r} is not key=value")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return name, options


def make_factory(spec: str, space_factory, oracle, warmup: int, noise: float, queries: int | None = None,
                 budget=None):
    """seed -> a fresh sampler built from `spec`, warmed up (its `init` sampler, if it has one), proposing
    within `budget` (a cost `Budget` or None).

    queries: the table queries of a search trial; a sampler whose initial population (`population_size`)
    would use all of them is refused, as it would never propose a child."""
    from samplenas.benchmarks.study import warm_up
    from samplenas.samplers import SAMPLERS

    name, options = parse_spec(spec)
    sampler_class = SAMPLERS[name]
    init_name = options.pop("init", None)
    if warmup and init_name is None and name == "evolution":
        raise UserError("--warmup would hand evolution free table queries as its population; "
                        "seed it from a warmed-up sampler instead (evolution:init=vae)")

    def make(seed: int, warm: bool = True):
        space = space_factory()
        if init_name is not None:
            init = SAMPLERS[init_name](space, seed=seed)
            if warm and warmup:
                warm_up(init, oracle, warmup, noise, seed)
            return sampler_class(space, seed=seed, init=init, **options).constrain(budget)
        sampler = sampler_class(space, seed=seed, **options)
        if warm and warmup:
            warm_up(sampler, oracle, warmup, noise, seed)
        return sampler.constrain(budget)

    try:
        probe = make(0, warm=False)  # fail fast on bad options, before any long run
    except TypeError as err:
        raise UserError(f"sampler {spec!r}: {err}") from None
    population = getattr(probe, "population_size", None)
    if queries is not None and population is not None and queries <= population:
        raise UserError(f"--budget {queries} is spent on {spec}'s initial population of {population}: it would never "
                        f"propose a child and print its init sampler's numbers; raise --budget above {population} or "
                        f"pass --sampler {name}:population_size=N with N < {queries}")
    return make


def init_only_note(spec: str, protocol: str) -> str | None:
    """Why an evolution spec's numbers equal its init sampler's under a protocol that scores nothing."""
    name, options = parse_spec(spec)
    if protocol == "search" or name != "evolution":
        return None
    source = options.get("init", "uniform")
    return (f"note: {spec} observes no scores under --protocol {protocol}, so every cell it draws comes from its "
            f"initial population ({source} sampling): its numbers are {source}'s (use --protocol search to "
            "compare evolution)")


def run_study(args) -> int:
    from samplenas.benchmarks import study
    from samplenas.benchmarks.nasbench101 import NASBench101
    from samplenas.benchmarks.nb101_pareto import table_budget
    from samplenas.spaces import SPACES
    from samplenas.training.checkpoint import save_json

    if args.protocol == "maxk":
        try:
            ks = sorted({int(k) for k in args.ks.split(",")})
        except ValueError:
            raise UserError(f"--ks must be comma-separated integers, got {args.ks!r}") from None
    bench = NASBench101(args.table)
    oracle = study.TableOracle(bench, args.metric, repeat=int(args.repeat) if args.repeat.isdigit() else args.repeat)
    specs = args.samplers or ["uniform", "evolution"]
    queries = args.budget if args.protocol == "search" else None
    budget = table_budget(bench, SPACES["nb101"](), args.max_params, args.max_macs)
    factories = {
        spec: make_factory(spec, lambda: SPACES["nb101"](table=args.table), oracle, args.warmup, args.noise, queries,
                           budget)
        for spec in specs
    }
    for spec in specs:
        note = init_only_note(spec, args.protocol)
        if note:
            print(note, file=sys.stderr)
    settings = {k: v for k, v in vars(args).items() if k not in ("func", "json", "out")}
    report: dict = {"settings": settings, "results": {}}
    title = f"NAS-Bench-101 ({args.metric}, {Path(args.table).name})"
    if args.protocol == "maxk":
        results = {spec: study.max_of_k(make, oracle, ks, range(args.seeds)) for spec, make in factories.items()}
        report["results"] = {spec: {k: vars(s) for k, s in r.items()} for spec, r in results.items()}
        plot = lambda path: study.plot_max_of_k(results, path, title)  # noqa: E731
    elif args.protocol == "search":
        curves = {spec: study.search_curve(make, oracle, args.budget, range(args.trials), args.batch)
                  for spec, make in factories.items()}
        report["results"] = {spec: {"final": vars(study.Summary.of(c[:, -1])), "mean_curve": c.mean(0).tolist()}
                             for spec, c in curves.items()}
        plot = lambda path: study.plot_curves(curves, path, title)  # noqa: E731
    else:
        samples = {spec: study.accuracy_distribution(make(0), oracle, args.n) for spec, make in factories.items()}
        report["results"] = {spec: vars(study.Summary.of(a)) | {"median": float(study.np.median(a))}
                             for spec, a in samples.items()}
        plot = lambda path: study.plot_distributions(samples, path, title)  # noqa: E731
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        plot(out / f"{args.protocol}.png")
        save_json(out / f"{args.protocol}.json", report)
    if args.json:
        print(dumps(report, indent=2))
    else:
        print_report(args.protocol, report["results"])
        if args.out:
            print(f"wrote {Path(args.out) / (args.protocol + '.json')} and {args.protocol}.png")
    return 0


def print_report(protocol: str, results: dict) -> None:
    for spec, result in results.items():
        if protocol == "maxk":
            cells = "  ".join(f"K={k}: {100 * s['mean']:.2f}±{100 * s['std']:.2f}" for k, s in result.items())
        elif protocol == "search":
            cells = f"best after budget: {100 * result['final']['mean']:.2f}±{100 * result['final']['std']:.2f}"
        else:
            cells = f"mean {100 * result['mean']:.2f}  median {100 * result['median']:.2f}"
        print(f"{spec:30s} {cells}")
