"""End to end on NAS-Bench-101, judged by the table: does `train` -> `search` on the NB101 supernet pick
a good cell, and does the sampler in the supernet loop matter (VAENAS's claim)?

For each sampler and seed it runs the ordinary commands (printed as it goes):
  samplenas train --space nb101 --sampler S ... --keep-checkpoints     (the supernet, kept checkpoints)
  samplenas search --run RUN ...                                        (top.json: the picks)
then looks every pick up in the table (test accuracy of repeat 0, the only one the shared table has),
and ranks the supernet against the table: Kendall tau / Spearman rho over random cells at every kept
checkpoint (does ranking improve as the supernet trains?) and over the table's best cells at the end. The random
cells are uniform over valid encodings (mostly 4-5 vertices; every recorded run's) unless `--random-cells table`
draws them as the table holds them (85 % with 7 vertices).
Beside them: a random cell's mean accuracy, the table's best, and regularised evolution on the table
itself with as many architecture evaluations as the search scored.

  python tools/e2e_nb101.py --out runs/e2e                 # the figures in docs/results (CPU hours; see --help)
  python tools/e2e_nb101.py --smoke --out /tmp/e2e-smoke    # seconds: digits, a tiny supernet, one seed
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
EVAL_FILE = "e2e_eval.json"
TOP_2_PERCENT = 93.45  # the table's top 2 % of cells by test accuracy (repeat 0): the pick's target
RANDOM_CELLS_SEED = 12345  # the random cells every NB101 study ranks (distinct_uniform), so studies pair on them
SAMPLER_ARGS = {
    "uniform": ["--sampler", "uniform"],
    "fair": ["--sampler", "fair"],
    # VAENAS Algorithm 2: epsilon reaches 1 (all draws from the VAE) at half the run
    "vae": ["--sampler", "vae", "--epsilon-ramp", "0.5", "--sampler-options", json.dumps({"iters": 50})],
    # each step trains the cell with the most parameters of 4 uniform draws (the proxy filter)
    "filter": ["--sampler", "proxy-filter",
               "--sampler-options", json.dumps({"inner": "uniform", "proxy": "params", "pool": 4})],
}


def parse_args(argv=None) -> argparse.Namespace:
    from samplenas.training.train_config import MAX_MEMBERS, SPACE_LR

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for the runs, e2e.json and e2e.png")
    p.add_argument("--compare", nargs="+", metavar="LABEL=OUT[:SAMPLER]",
                   help="only draw OUT/e2e.png comparing finished invocations, one column per LABEL (each OUT an "
                        "earlier --out; its samplers are named LABEL or LABEL: sampler; OUT:SAMPLER takes one of "
                        "them; a LABEL given again gathers the seeds of both under it)")
    p.add_argument("--data", default="cifar10-jpeg", help="data set the supernet trains on (default cifar10-jpeg)")
    p.add_argument("--data-dir", default=str(DATA), help=f"data folder (default {DATA})")
    p.add_argument("--table", default=str(DATA / "nasbench101" / "nb101_table_repeat0.npz"),
                   help="NB101 table: samplenas HDF5, or the npz it converts from")
    p.add_argument("--samplers", nargs="+", default=["uniform", "fair", "vae"], choices=list(SAMPLER_ARGS),
                   help="samplers of the supernets (default: uniform fair vae; filter: the proxy filter)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=800, help="supernet training steps per run (default 800)")
    p.add_argument("--lr", type=float,
                   help=f"supernet learning rate (default: train's, {SPACE_LR['nb101']:g} for nb101)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--network", default=json.dumps({"stem_channels": 16, "num_stacks": 3, "cells_per_stack": 1}),
                   help="supernet size (reduced from NB101's stem 128 x 3 cells per stack for a CPU)")
    p.add_argument("--checkpoints", type=int, default=4, help="kept checkpoints ranked over training (default 4)")
    p.add_argument("--population", type=int, default=16, help="search population (default 16)")
    p.add_argument("--generations", type=int, default=4, help="search generations (default 4)")
    p.add_argument("--top", type=int, default=10, metavar="K",
                   help="cells each search keeps in top.json, best first (default 10: what the finalists' studies "
                        "read)")
    p.add_argument("--rank-cells", type=int, default=100, help="random cells ranked per checkpoint (default 100)")
    add_random_cells_argument(p)
    p.add_argument("--top-cells", type=int, default=1000, help="the region of the table's best cells ranked at the end")
    p.add_argument("--top-sample", type=int, default=100,
                   help="cells drawn from that region and scored (default 100: the table's best cells are the "
                        "largest, ~2.5 s each here)")
    p.add_argument("--top-seeds", nargs="+", type=int,
                   help="seeds whose supernets are ranked on the table's best cells (default: every seed; "
                        "ranking 1,000 cells costs more CPU time than training here)")
    p.add_argument("--eval-examples", type=int, default=512, help="validation images per scored cell")
    p.add_argument("--trend-seeds", nargs="+", type=int,
                   help="seeds whose every kept checkpoint is ranked (tau against training steps; default: every "
                        "seed); the others are ranked at the final checkpoint only")
    p.add_argument("--bn-batches", type=int, help="BN recalibration batches per scored cell (default: train's)")
    p.add_argument("--reuse", type=Path, metavar="OUT0",
                   help="search and rank the supernets another invocation trained (OUT0/<sampler>-seed<N>) with "
                        "this one's --eval-examples / --bn-batches, at their final checkpoint: a scoring lever "
                        "without retraining")
    p.add_argument("--scorer", help="how search and ranking score cells: supernet, a zero-cost proxy (params, "
                                    "synflow, ...), a rank average or weighted one (default: search's, "
                                    "supernet-loss+params for nb101; "
                                    "see `samplenas search --help`)")
    p.add_argument("--rescore-top", type=int, metavar="K",
                   help="search scores its best K again, on --rescore-examples validation images and/or by "
                        "--rescore-scorer; 0: no second scoring (default: search's, for nb101 the best 10 trained "
                        "alone; search --help)")
    p.add_argument("--rescore-examples", type=int, metavar="N", help="validation images for --rescore-top")
    p.add_argument("--rescore-scorer", metavar="SCORER",
                   help="the scorer of --rescore-top's finalists (e.g. params, or standalone: each trained "
                        "alone; default: the search's own)")
    p.add_argument("--standalone-steps", type=int, metavar="N",
                   help="training steps of a standalone scorer (default: search's)")
    p.add_argument("--standalone-downscale", type=int, metavar="K",
                   help="a standalone scorer trains on the images with their side divided by K (default: search's)")
    p.add_argument("--search-seed-offset", type=int, default=0, metavar="K",
                   help="search each supernet with seed N + K instead of its own seed N: another draw of the "
                        "search (its evolution and the scorer's reference sample; the initial population comes "
                        "from the run's sampler) on the same supernets (default 0)")
    p.add_argument("--members", type=int, default=1, metavar="K",
                   help="train each supernet as an ensemble run of K (`train --members K`: seeds 10N..10N+K-1, "
                        "--steps / K steps each, one evaluation round and checkpoint at the end of each), searched "
                        "and ranked as one, at its end only (default 1)")
    p.add_argument("--limit", type=int, help="examples per split (quick runs)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--smoke", action="store_true", help="seconds-long check: digits, tiny supernet, one seed")
    if p.parse_known_args(argv)[0].smoke:  # smoke settings are defaults: flags given explicitly still win
        p.set_defaults(data="digits", seeds=[0], steps=8, batch_size=16, checkpoints=2, population=3, generations=1,
                       network=json.dumps({"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}),
                       rank_cells=6, top_cells=6, eval_examples=32, limit=200, samplers=["uniform", "vae"],
                       standalone_steps=3)
    args = p.parse_args(argv)
    if min(args.steps, args.checkpoints, args.population, args.top, args.rank_cells, args.top_sample) < 1 \
            or args.top_cells < 0:
        p.error("--steps, --checkpoints, --population, --top, --rank-cells and --top-sample must be positive, "
                "--top-cells >= 0")
    if args.bn_batches is not None and args.bn_batches < 0:
        p.error("--bn-batches must be >= 0")
    if args.search_seed_offset < 0:
        p.error("--search-seed-offset must be >= 0")
    if args.lr is not None and not 0 < args.lr < float("inf"):
        p.error("--lr must be a positive number")
    if args.reuse is not None and not args.reuse.is_dir():
        p.error(f"--reuse {args.reuse}: no such folder")
    if not 1 <= args.members <= MAX_MEMBERS:
        p.error(f"--members must be in [1, {MAX_MEMBERS}]")
    if args.reuse is not None and args.members > 1:
        p.error("--reuse links one trained supernet per run; it does not take --members")
    if args.members == 1 and args.steps % args.checkpoints:  # an ensemble's members checkpoint at their end only
        p.error(f"--steps ({args.steps}) must be a multiple of --checkpoints ({args.checkpoints})")
    return args


def checkpointing(args) -> list[str]:
    """train's evaluation rounds and checkpoints: kept --checkpoints times over one supernet's training, to rank
    it over training; an ensemble's members evaluate and checkpoint once, at their end."""
    if args.members > 1:
        from samplenas.training.train_config import TrainConfig

        member = TrainConfig(space="nb101", sampler="uniform", steps=args.steps, members=args.members).member(0)
        member_steps = str(member.steps)
        return ["--members", str(args.members), "--eval-every", member_steps, "--checkpoint-every", member_steps]
    return ["--eval-every", str(max(1, args.steps // 8)), "--checkpoint-every", str(args.steps // args.checkpoints),
            "--keep-checkpoints"]


def run_cli(command: list[str], log: list[str]) -> None:
    from samplenas.cli import main

    line = "samplenas " + shlex.join(command)
    print(f"$ {line}", flush=True)
    log.append(line)
    if main(command) != 0:
        sys.exit(f"e2e: command failed: {line}")


def open_table(path: str, out: Path):
    from samplenas.benchmarks.nasbench101 import NASBench101
    from samplenas.benchmarks.nasbench101_convert import convert

    if path.endswith(".npz"):
        out.mkdir(parents=True, exist_ok=True)
        converted = out / "nb101.h5"
        if not converted.exists():
            convert(path, converted, progress=False)
        path = str(converted)
    return NASBench101(path)


def add_random_cells_argument(p: argparse.ArgumentParser) -> None:
    """--random-cells: what `draw_random_cells` draws the studies' random cells uniformly over."""
    p.add_argument("--random-cells", choices=("encodings", "table"), default="encodings",
                   help="what the random cells are uniform over: valid encodings (default: mostly small cells, every "
                        "recorded study's) or the table's cells")


def draw_random_cells(count: int, drawn_over: str = "encodings", table: str | None = None) -> list:
    """The random cells the NB101 studies rank: `count` distinct cells (seed RANDOM_CELLS_SEED), uniform over valid
    encodings (every recorded study's: mostly cells of 4-5 vertices) or over the cells of `table`, as it holds them
    (85 % with 7 vertices)."""
    from samplenas.spaces import SPACES
    from samplenas.training.rank import distinct_uniform

    space = SPACES["nb101"](table=table) if drawn_over == "table" else SPACES["nb101"]()
    return distinct_uniform(space, count, np.random.default_rng(RANDOM_CELLS_SEED))


def table_cells(table, space, hashes) -> list:
    """Flat encodings of table cells given by hash."""
    from samplenas.spaces.nasbench101 import ModelSpec

    archs = []
    for module_hash in hashes:
        fixed, _ = table.get_metrics_from_hash(module_hash)
        archs.append(space.encode(ModelSpec(np.asarray(fixed["module_adjacency"]), list(fixed["module_operations"]))))
    return archs


def evaluate_run(run: Path, seed: int, table, accuracy, random_cells, top_cells, args) -> dict:
    """The table's verdict on the search's picks (`kept_picks`, looked up each time) and the ranking of
    `score_run`, kept in RUN/e2e_eval.json: ranking 1,000 cells costs minutes, and several invocations (one per
    core, then one that gathers) must not repeat it."""
    cached = run / EVAL_FILE
    scoring = scoring_overrides(args)
    if args.top_seeds is not None and seed not in args.top_seeds:
        top_cells = []
    trend = args.trend_seeds is None or seed in args.trend_seeds
    key = {"rank_cells": args.rank_cells, "top_cells": args.top_cells if top_cells else 0, "top_sample": len(top_cells),
           **({"scoring": scoring} if scoring else {}), **({} if trend else {"final_only": True}),
           **({} if args.random_cells == "encodings" else {"random_cells": args.random_cells}),
           "scorer": resolved_scorer(args)}
    if cached.exists():
        stored = json.loads(cached.read_text())
        if stored.get("key") == key and stored.get("top_mtime") == (run / "top.json").stat().st_mtime_ns:
            return {**stored["result"], **kept_picks(run, table, accuracy)}
    from samplenas.training.checkpoint import save_json

    result = score_run(run, table, random_cells, top_cells, scoring, trend, resolved_scorer(args))
    save_json(cached, {"key": key, "top_mtime": (run / "top.json").stat().st_mtime_ns, "result": result})
    return {**result, **kept_picks(run, table, accuracy)}


def kept_picks(run: Path, table, accuracy) -> dict:
    """The table accuracy of the search's pick, the mean of its first ten, and the best cell it kept with that
    cell's place in top.json (re-scored finalists first, as the search reports them; tools/search_seen_nb101.py
    reads the order before re-scoring); with --top as large as the cells scored, the best the search saw, what
    its picking could at most reach; where the search scored its finalists again, also the cell it had put
    first itself (`search_top1`), so one invocation judges the re-ordering against the search's own pick.
    `kept_cells` lists every kept cell with its table accuracy and what the search measured of it, so a later
    study can judge another ordering of the same cells from e2e.json alone, without the run folders."""
    from samplenas.spaces import SPACES

    top = json.loads((run / "top.json").read_text())
    picks = [tuple(entry["encoding"]) for entry in top["top"]]
    picked = table.values("test_accuracy", table.lookup_archs(picks), repeat=0)
    return {"top1": float(picked[0]), "top10_mean": float(np.mean(picked[:10])),
            "best_kept": float(picked.max()), "best_kept_rank": int(np.argmax(picked)) + 1,
            "top1_percentile": float(100.0 * np.mean(accuracy < picked[0])),
            "top1_arch": SPACES["nb101"]().describe(picks[0]), "evaluated": top["evaluated"],
            "kept_cells": [kept_cell(entry, judged) for entry, judged in zip(top["top"], picked)],
            **search_own_pick(top, table)}


def kept_cell(entry: dict, accuracy: float) -> dict:
    """One top.json entry, judged: its encoding, table test accuracy, parameter count, place in the search's
    own order, and every metric the search measured of it (the second scoring's too: a standalone accuracy,
    say)."""
    return {"encoding": entry["encoding"], "test_accuracy": float(accuracy), "params": entry["params"],
            **{key: entry[key] for key in ("search_rank", "search_score") if key in entry},
            "metrics": entry.get("metrics", {})}


def search_own_pick(top: dict, table) -> dict:
    """The table accuracy of the cell a re-scored search had put first itself (top.json's `search_rank` 1)."""
    own = [entry for entry in top["top"] if entry.get("search_rank") == 1]
    if not own:
        return {}
    return {"search_top1": float(table.values("test_accuracy", table.lookup_archs([tuple(own[0]["encoding"])]),
                                              repeat=0)[0])}


def score_run(run: Path, table, random_cells, top_cells, scoring: dict, trend: bool = True,
              scorer_name: str = "supernet") -> dict:
    """Ranking at every kept checkpoint (`trend`; the final one when none are kept or not `trend`) and over the
    best cells, scored by `scorer_name` (training.scorers)."""
    from samplenas.training.checkpoint import load_checkpoint
    from samplenas.training.rank import rank_correlation
    from samplenas.training.scorers import RunScorer
    from samplenas.training.supernet_ensemble import open_runs
    from samplenas.training.supernet_train import KEPT_CHECKPOINTS

    # the final checkpoint (an ensemble run's members at theirs); the kept ones are loaded into it below
    trainer = open_runs([run], evaluation=scoring)
    random_acc = table.values("test_accuracy", table.lookup_archs(random_cells), repeat=0)
    rank_top = None
    if top_cells:
        top_acc = table.values("test_accuracy", table.lookup_archs(top_cells), repeat=0)
        rank_top = rank_correlation(RunScorer(trainer, scorer_name), top_cells, top_acc, progress=True)[1]
    kept = sorted((run / KEPT_CHECKPOINTS).glob("step*.pt")) if trend else []
    over_training = []
    for path in kept or [None]:
        if path is not None:
            trainer.load_state_dict(load_checkpoint(path), str(path), may_differ=scoring)
        scorer = RunScorer(trainer, scorer_name)  # a hybrid's reference sample is scored at this checkpoint
        over_training.append({"step": trainer.step, **rank_correlation(scorer, random_cells, random_acc)[1]})
    return {"rank_random": over_training[-1], "rank_over_training": over_training, "rank_top": rank_top}


def resolved_scorer(args) -> str:
    from samplenas.training.choices import default_search_scorer

    return args.scorer or default_search_scorer("nb101")


def searched_settings(args) -> dict:
    """What this invocation's searches record in top.json besides their seed (canonical names, checked by
    SearchConfig): a folder searched otherwise is not gathered."""
    from samplenas.training.search import SearchConfig, rescored_settings

    config = SearchConfig(scorer=resolved_scorer(args), rescore_top=args.rescore_top,
                          rescore_examples=args.rescore_examples, rescore_scorer=args.rescore_scorer,
                          standalone_steps=args.standalone_steps,
                          standalone_downscale=args.standalone_downscale).check().for_space("nb101")
    return {"scorer": config.scorer, "rescored": rescored_settings(config) if config.rescore_top else None,
            "kept": args.top}


def check_searched_as(run: Path, wanted: dict, seed: int) -> None:
    """Refuse a run folder whose top.json another search wrote (another seed, scorer, re-scoring or number of
    cells kept), instead of mixing its pick into this invocation's; top.json from before `search_seed` was
    recorded searched with `seed`."""
    report = json.loads((run / "top.json").read_text())
    found = {"search_seed": report.get("search_seed", seed), "scorer": report.get("scorer"),
             "rescored": report.get("rescored"), "kept": len(report["top"])}
    if "kept" in wanted:  # a search that scored fewer cells than it was asked to keep kept them all
        wanted = {**wanted, "kept": min(wanted["kept"], report.get("evaluated", wanted["kept"]))}
    for key, value in wanted.items():
        if found[key] != value:
            sys.exit(f"e2e: {run} was searched with {key} {found[key]}, not {value}: give another --out")


def scoring_overrides(args) -> dict:
    """How a reused supernet's cells are scored (--reuse); a run this invocation trains scores as trained."""
    return {"eval_examples": args.eval_examples, "bn_batches": args.bn_batches} if args.reuse else {}


def link_trained(source: Path, run: Path) -> None:
    """The trained supernet of `source` (config and final checkpoint, hard-linked) as a fresh run folder."""
    if not (source / "checkpoint.pt").exists():
        sys.exit(f"e2e: --reuse: {source} holds no trained supernet")
    run.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "checkpoint.pt"):
        if not (run / name).exists():
            (run / name).hardlink_to(source / name)


def evolution_on_table(table, budget: int, trials: list[int]) -> list[float]:
    """Regularised evolution with the table as its oracle, `budget` distinct cells per trial."""
    from samplenas.benchmarks import study
    from samplenas.samplers import SAMPLERS
    from samplenas.spaces import SPACES

    oracle = study.TableOracle(table, repeat=0)
    space = SPACES["nb101"]()
    curves = study.search_curve(lambda seed: SAMPLERS["evolution"](space, seed=seed), oracle, budget, trials,
                                progress=False)
    return [float(v) for v in curves[:, -1]]


def largest_cost_pick(table, budget: int, metric: str, draws: int = 3000) -> dict:
    """Table accuracy of the cell with the largest `metric` (a per-cell table column) among `budget` cells
    drawn uniformly from the table, over `draws` draws: the pick of a picker that only counts size."""
    accuracy = table.values("test_accuracy", repeat=0)
    cost = table.values(metric)
    rows = np.flatnonzero(np.isfinite(cost))
    rng = np.random.default_rng(777)
    picks = []
    for _ in range(draws):
        drawn = rng.choice(rows, budget, replace=False)
        picks.append(accuracy[drawn[int(np.argmax(cost[drawn]))]])
    return {"mean": float(np.mean(picks)), "std": float(np.std(picks)), "draws": draws}


def params_proxy(supernet, table, cells) -> dict:
    """Kendall tau / Spearman rho of the cells' parameter counts (their networks at the run's size)
    against their table accuracy: the ranking a scorer gets with no training at all, for scale."""
    from scipy import stats

    params = [supernet.param_count(arch) for arch in cells]
    accuracy = table.values("test_accuracy", table.lookup_archs(cells), repeat=0)
    return {"kendall_tau": float(stats.kendalltau(params, accuracy).statistic),
            "spearman_rho": float(stats.spearmanr(params, accuracy).statistic)}


def summarise(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}


def plot(results: dict, reference: dict, path: Path) -> None:
    """Left: table accuracy of the picks per sampler and seed; right: tau over training steps."""
    from samplenas.plotting import pyplot, save_figure

    plt = pyplot()
    fig, (picks, ranking) = plt.subplots(1, 2, figsize=(11, 5))
    for i, (sampler, runs) in enumerate(results.items()):
        top1 = [100 * r["top1"] for r in runs.values()]
        picks.scatter([i] * len(top1), top1, color=f"C{i}", label=f"{sampler} top-1", zorder=3)
        picks.scatter([i + 0.15] * len(top1), [100 * r["top10_mean"] for r in runs.values()], marker="x",
                      color=f"C{i}", label=f"{sampler} top-10 mean", zorder=3)
        mean_top1 = float(np.mean(top1))
        picks.hlines(mean_top1, i - 0.12, i + 0.12, color=f"C{i}", lw=2.5, zorder=4,
                     label=f"{sampler} mean top-1 ({mean_top1:.2f} %)")
        for j, r in enumerate(runs.values()):
            curve = r["rank_over_training"]
            ranking.plot([c["step"] for c in curve], [c["kendall_tau"] for c in curve], marker="o",
                         color=f"C{i}", alpha=0.7, label=sampler if j == 0 else None)
    picks.axhline(100 * reference["random_mean"], color="grey", ls="--", label="random cell (mean)")
    picks.axhline(100 * reference["table_best"], color="black", ls=":", label="table best")
    picks.axhline(100 * reference["evolution_on_table"]["mean"], color="green", ls="-.", label="RE on the table")
    picks.axhline(TOP_2_PERCENT, color="purple", ls=":", lw=1, label=f"table's top 2 % ({TOP_2_PERCENT} %)")
    picks.axhline(100 * reference["largest_flops_pick"]["mean"], color="red", ls="--", lw=0.8,
                  label="largest-FLOPs pick (mean)")
    picks.set_xticks(range(len(results)), list(results), rotation=20, ha="right", fontsize=8)  # long --compare labels
    picks.set_ylabel("table test accuracy of the pick (%)")
    picks.set_title("cells picked by train -> search")
    picks.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3)
    ranking.axhline(0, color="grey", lw=0.8)
    ranking.set_xlabel("supernet training step")
    ranking.set_ylabel("Kendall tau, supernet vs table (random cells)")
    ranking.set_title("does ranking improve as the supernet trains?")
    ranking.legend(fontsize=7, title="lines: every kept checkpoint; dots: final only", title_fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def compare(entries: list[str], out: Path) -> int:
    """OUT/e2e.png over several finished invocations, so scorers or settings stand side by side; seeds of
    one setting run in several invocations (held-out seeds, say) gather under one label."""
    merged, reference = {}, None
    for entry in entries:
        label, _, folder = entry.partition("=")
        head, _, only = folder.rpartition(":")
        if only in SAMPLER_ARGS:  # OUT:SAMPLER; a folder whose name holds a colon stays whole
            folder = head
        else:
            only = ""
        path = Path(folder) / "e2e.json"
        if not label or not path.is_file():
            sys.exit(f"e2e: --compare takes LABEL=OUT[:SAMPLER] with OUT/e2e.json, got {entry!r}")
        report = json.loads(path.read_text())
        reference = reference or report["reference"]
        results = report["results"]
        if only:
            if only not in results:
                sys.exit(f"e2e: {folder} has no {only!r} runs (it has {', '.join(results)})")
            results = {only: results[only]}
        for sampler, runs in results.items():
            column = merged.setdefault(label if len(results) == 1 else f"{label}: {sampler}", {})
            repeated = sorted(set(column) & set(runs))
            if repeated:
                sys.exit(f"e2e: --compare label {label!r} has seed {repeated[0]} twice")
            column.update(runs)
    out.mkdir(parents=True, exist_ok=True)
    plot(merged, reference, out / "e2e.png")
    print(f"written: {out / 'e2e.png'}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.compare:
        return compare(args.compare, args.out)
    import torch

    torch.set_num_threads(args.threads)
    from samplenas.errors import UserError
    from samplenas.spaces import SPACES
    from samplenas.training.supernet_run import open_run

    try:
        searched = searched_settings(args)  # an unknown --scorer or --rescore-scorer is refused before anything trains
    except UserError as error:
        sys.exit(f"e2e: {error}")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    table = open_table(args.table, args.out)
    accuracy = table.values("test_accuracy", repeat=0)
    space = SPACES["nb101"]()
    random_cells = draw_random_cells(args.rank_cells, args.random_cells, args.table)
    best = [h for h, _ in table.top_k(args.top_cells, repeat=0)]
    drawn = np.random.default_rng(54321).choice(len(best), min(args.top_sample, len(best)), replace=False)
    top_cells = table_cells(table, space, [best[i] for i in sorted(drawn)])
    commands: list[str] = []
    results: dict[str, dict[int, dict]] = {}
    limit = ["--limit", str(args.limit)] if args.limit else []
    bn_batches = ["--bn-batches", str(args.bn_batches)] if args.bn_batches is not None else []
    scoring = ["--eval-examples", str(args.eval_examples), *bn_batches] if args.reuse else []
    scoring += ["--scorer", args.scorer] if args.scorer else []
    if args.rescore_top is not None:
        scoring += ["--rescore-top", str(args.rescore_top)]
        scoring += ["--rescore-examples", str(args.rescore_examples)] if args.rescore_examples else []
        scoring += ["--rescore-scorer", args.rescore_scorer] if args.rescore_scorer else []
    scoring += [] if args.standalone_steps is None else ["--standalone-steps", str(args.standalone_steps)]
    scoring += [] if args.standalone_downscale is None else ["--standalone-downscale", str(args.standalone_downscale)]
    for sampler in args.samplers:
        for seed in args.seeds:
            run = args.out / f"{sampler}-seed{seed}"
            if args.reuse:
                link_trained(args.reuse / run.name, run)
            elif not (run / "top.json").exists():
                run_cli(["train", "--space", "nb101", *SAMPLER_ARGS[sampler], "--data", args.data,
                         "--data-dir", args.data_dir, "--network", args.network, "--steps", str(args.steps),
                         "--batch-size", str(args.batch_size), *checkpointing(args),
                         "--eval-examples", str(args.eval_examples), "--seed", str(seed),
                         "--threads", str(args.threads), "--out", str(run), "--quiet", "--overwrite", *limit,
                         *bn_batches, *(["--lr", str(args.lr)] if args.lr is not None else [])], commands)
            search_seed = seed + args.search_seed_offset
            if (run / "top.json").exists():
                check_searched_as(run, {"search_seed": search_seed, **searched}, seed)
            else:
                run_cli(["search", "--run", str(run), "--population", str(args.population), "--generations",
                         str(args.generations), "--top", str(args.top), "--seed", str(search_seed), "--quiet",
                         *scoring], commands)
            results.setdefault(sampler, {})[seed] = evaluate_run(run, seed, table, accuracy, random_cells,
                                                                 top_cells, args)
            print(json.dumps({"sampler": sampler, "seed": seed, **{k: v for k, v in results[sampler][seed].items()
                                                                   if k != "rank_over_training"}}), flush=True)
    budget = next(iter(next(iter(results.values())).values()))["evaluated"]
    sized = open_run(args.out / f"{args.samplers[0]}-seed{args.seeds[0]}").supernet  # the networks' size
    reference = {"random_mean": float(np.nanmean(accuracy)), "table_best": float(np.nanmax(accuracy)),
                 "evolution_on_table": summarise(evolution_on_table(table, budget, args.seeds)),
                 "evaluations": budget, "largest_flops_pick": largest_cost_pick(table, budget, "flops_thop"),
                 "params_proxy": {"random": params_proxy(sized, table, random_cells),
                                  "top": params_proxy(sized, table, top_cells) if len(top_cells) > 2 else None}}
    report = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "reference": reference, "results": results, "commands": commands,
              "wall_time_s": round(time.perf_counter() - started, 1)}
    (args.out / "e2e.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    plot(results, reference, args.out / "e2e.png")
    print_table(results, reference, resolved_scorer(args), args.random_cells, args.members)
    print(f"wall time {report['wall_time_s']:.0f} s; {args.out / 'e2e.json'}, {args.out / 'e2e.png'}")
    return 0


def _stat(rows: list[dict], get, scale: float = 1.0, digits: int = 2) -> str:
    values = [scale * get(r) for r in rows]
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def _ranking_stat(rows: list[dict], kind: str, measure: str) -> str:
    """mean ± std over the runs ranked this way, with their count when not every run was."""
    ranked = [r for r in rows if r[kind]]
    if not ranked:
        return "not ranked"
    text = _stat(ranked, lambda r: r[kind][measure], 1, 3)
    return text if len(ranked) == len(rows) else f"{text} (n={len(ranked)})"


def print_table(results: dict, reference: dict, scorer: str = "supernet", random_cells: str = "encodings",
                members: int = 1) -> None:
    random = "random encodings" if random_cells == "encodings" else "random table cells"
    print(f"\n| picker | top-1 table acc. (%) | top-10 mean (%) | top-1 percentile | tau ({random}) | rho ({random}) "
          "| tau (table top) | rho (table top) |")
    print("|---|---|---|---|---|---|---|---|")
    for sampler, runs in results.items():
        rows = list(runs.values())
        cells = [_stat(rows, lambda r: r["top1"], 100), _stat(rows, lambda r: r["top10_mean"], 100),
                 _stat(rows, lambda r: r["top1_percentile"])]
        cells += [_ranking_stat(rows, kind, measure) for kind in ("rank_random", "rank_top")
                  for measure in ("kendall_tau", "spearman_rho")]
        kind = "supernet" if members == 1 else f"ensemble of {members} supernets"
        label = sampler if scorer == "supernet" and members == 1 else f"{sampler} {kind} scored by {scorer}"
        print(f"| {label} (n={len(rows)}) | " + " | ".join(cells) + " |")
        own = [r for r in rows if "search_top1" in r]
        if own:
            print(f"| {label}: the search's own pick, before its finalists were scored again (n={len(own)}) | "
                  f"{_stat(own, lambda r: r['search_top1'], 100)} | | | | | | |")
    evo = reference["evolution_on_table"]
    print(f"| random cell (table mean) | {100 * reference['random_mean']:.2f} | | 50 | | | | |")
    print(f"| regularised evolution on the table, {reference['evaluations']} queries | "
          f"{100 * evo['mean']:.2f} ± {100 * evo['std']:.2f} | | | | | | |")
    flops = reference["largest_flops_pick"]
    print(f"| largest FLOPs among {reference['evaluations']} random cells (table flops_thop, {flops['draws']:,} "
          f"draws) | {100 * flops['mean']:.2f} ± {100 * flops['std']:.2f} | | | | | | |")
    print(f"| table best | {100 * reference['table_best']:.2f} | | 100 | | | | |")
    proxy = reference["params_proxy"]
    cells = [f"{proxy[kind][measure]:.3f}" if proxy[kind] else "" for kind in ("random", "top")
             for measure in ("kendall_tau", "spearman_rho")]
    print("| parameter count of the cell (no training) | | | | " + " | ".join(cells) + " |")
    print(f"\nKendall tau over {random} against supernet training steps:")
    for sampler, runs in results.items():
        for seed, r in runs.items():
            curve = ", ".join(f"{c['step']}: {c['kendall_tau']:.3f}" for c in r["rank_over_training"])
            print(f"  {sampler} seed {seed}: {curve}")


if __name__ == "__main__":
    sys.exit(main())
