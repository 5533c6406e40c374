"""How well does each scorer rank NAS-Bench-101 cells? Zero-cost proxies, cost baselines, trained supernets
and their rank-average hybrids, judged by the table with bootstrap 95 % intervals.

Cells: `--cells` random cells (distinct, seed 12345: the end-to-end study's random cells are the first 100 of
them) and `--top-sample` drawn from the table's best `--top-cells` (seed 54321, as there). The random cells are
drawn uniformly over valid encodings (`--random-cells encodings`, the default and every recorded study's), which
prune mostly to small cells: of the 300, 1 / 6 / 73 / 156 / 51 / 13 have 2 / 3 / 4 / 5 / 6 / 7 vertices, where 85 %
of the table's cells have 7. `--random-cells table` draws them uniformly over the table's 423,624 cells instead.
Scorers:
  table FLOPs / table params   the table's own columns (flops_thop; params where the table has them)
  params, flops, grad_norm, snip, synflow, jacob_cov, naswot   `samplenas.training.zero_cost` at the
                               proxy network size, on one fixed minibatch of the training split
  supernet:NAME                the supernet score of a trained run (`--run NAME=RUN`, any number): its
                               validation accuracy; supernet-loss:NAME, minus its validation loss; a
                               folder of tools/few_shot_nb101.py scores each cell on its part's supernet;
                               supernet-detrended:NAME and supernet-loss-detrended:NAME, the same less
                               their linear trend in the operation count over the reference sample that
                               `samplenas search --seed SEED` fits (`samplenas.training.scorers`)
  hybrids                      rank averages of a supernet and a proxy (`--hybrid supernet:NAME+synflow`), or
                               weighted ones as `search --scorer` takes them (`0.25*supernet:NAME+0.75*params`)
  learned:A+B                  the same parts with weights fitted on labelled cells (`--learned A+B
                               --landmarks FILE`: `samplenas.training.scorer_weights`), judged on the others
`--paired-against SCORER` adds, for every other scorer, the paired bootstrap of tau(scorer) - tau(SCORER)
over the same resampled cells: two supernets judged on the same cells differ by less than their separate
intervals suggest, and this interval is the one that says whether a remedy beat its baseline.
Every score is cached in OUT/scores.json with what it depends on (the run resumes where it stopped; an OUT
whose scores were made with another network, minibatch, seed, run or --eval-examples is refused);
OUT/zero_cost.json holds the correlations, OUT/zero_cost.png the picture.

    python tools/zero_cost_nb101.py --out runs/zero-cost                              # 300 + 100 cells
    python tools/zero_cost_nb101.py --out runs/zero-cost --run uniform=runs/sn-uniform \\
        --hybrid supernet:uniform+synflow supernet:uniform+naswot
    python tools/zero_cost_nb101.py --smoke --out /tmp/zc                                # seconds, digits
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_nb101 import DATA, add_random_cells_argument, draw_random_cells, open_table, table_cells  # noqa: E402
from few_shot_nb101 import FEW_SHOT_FILE, FewShotScorer  # noqa: E402

PROXY_NETWORK = {"stem_channels": 16, "num_stacks": 3, "cells_per_stack": 1}
BOOTSTRAP = 1000
PICK_AMONG = 80  # cells the end-to-end searches score
SETTINGS_KEY = "settings"  # in scores.json, beside the GROUP:SCORER entries


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for scores.json, zero_cost.json and the PNG")
    p.add_argument("--table", default=str(DATA / "nasbench101" / "nb101_table_repeat0.npz"))
    p.add_argument("--data", default="cifar10-jpeg")
    p.add_argument("--data-dir", default=str(DATA))
    p.add_argument("--network", default=json.dumps(PROXY_NETWORK), help="network size of the proxies' networks")
    p.add_argument("--cells", type=int, default=300, help="random cells (default 300)")
    add_random_cells_argument(p)
    p.add_argument("--top-cells", type=int, default=1000, help="the table's best cells to draw from (default 1000)")
    p.add_argument("--top-sample", type=int, default=100, help="cells drawn from them (default 100; 0 = none)")
    p.add_argument("--proxies", nargs="*", help="zero-cost proxies (default: all)")
    p.add_argument("--batch-size", type=int, default=64, help="the proxies' minibatch (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the proxies' initialisation and minibatch")
    p.add_argument("--run", nargs="*", default=[], metavar="NAME=RUN",
                   help="trained supernets to score: a run folder (its final checkpoint) or one of its kept "
                        "checkpoints, RUN/checkpoints/stepNNNNNNN.pt")
    p.add_argument("--eval-examples", type=int, help="validation images per supernet score (default: the run's)")
    p.add_argument("--bn-batches", type=int, help="BN recalibration batches per supernet score (default: the run's)")
    p.add_argument("--hybrid", nargs="*", default=[], metavar="A+B",
                   help="rank averages of scorers (W*A+V*B: weighted)")
    p.add_argument("--learned", nargs="*", default=[], metavar="A+B",
                   help="weighted combinations of scorers, weights fitted on the --landmarks cells")
    p.add_argument("--landmarks", type=Path,
                   help="labelled cells the --learned weights are fitted on: JSON lines with \"arch\" and the "
                        "--landmark-label key (e.g. docs/data/nb101_ceiling_cells.jsonl); they are left out of "
                        "the judged random cells")
    p.add_argument("--learned-objective", default="kendall", choices=("kendall", "weighted"),
                   help="what the --learned weights maximise on the landmarks: Kendall's tau or the weighted tau "
                        "(default kendall)")
    p.add_argument("--landmark-label", default="val_accuracy",
                   help="the landmarks' label: a key of each line (default val_accuracy: trained alone), or "
                        "'table' for the table's test accuracy (as many queries as landmarks)")
    p.add_argument("--curve", metavar="A+B",
                   help="tau, weighted tau and pick of the weighted rank average w*A + (1-w)*B over the random cells "
                        "for w = 0, 0.05, ..., 1 (OUT/curve.png): how a combination's ranking depends on its weight")
    p.add_argument("--paired-against", metavar="SCORER",
                   help="also report each scorer's tau minus this scorer's, paired bootstrap over the same cells")
    p.add_argument("--exclude-cells", type=Path,
                   help="a JSON-lines file of cells ({\"arch\": [...]} per line, e.g. the landmarks a supernet "
                        "trained on) left out of the random cells")
    p.add_argument("--pick-among", type=int, default=PICK_AMONG,
                   help=f"the expected pick of each scorer among this many of the random cells (default {PICK_AMONG}, "
                        "the end-to-end budget)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--resamples", type=int, default=BOOTSTRAP,
                   help=f"bootstrap resamples behind each 95 %% interval (default {BOOTSTRAP})")
    p.add_argument("--smoke", action="store_true", help="seconds: digits, a tiny network, few cells")
    if p.parse_known_args(argv)[0].smoke:
        p.set_defaults(data="digits", cells=12, top_cells=20, top_sample=6, batch_size=16, resamples=100,
                       network=json.dumps({"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}))
    args = p.parse_args(argv)
    if args.cells < 3 or args.top_sample < 0 or args.batch_size < 2 or args.resamples < 10 or args.pick_among < 1:
        p.error("--cells must be >= 3, --top-sample >= 0, --batch-size >= 2, --resamples >= 10, --pick-among >= 1")
    if bool(args.learned) != bool(args.landmarks):
        p.error("--learned and --landmarks go together")
    return args


def ranked_scores(values) -> np.ndarray:
    """Scores as float64, a missing (NaN) score set to -inf and -inf to the lowest float: both rank last."""
    return np.nan_to_num(np.asarray(values, dtype=np.float64), nan=-np.inf, neginf=np.finfo(np.float64).min)


def bootstrap(scores, accuracy, rng: np.random.Generator, resamples: int = BOOTSTRAP) -> dict:
    """Kendall tau, Spearman rho and the weighted tau that counts the best cells' order most (Vigna's, as
    `samplenas.training.scorer_weights` fits it) with percentile-bootstrap 95 % intervals over the cells."""
    from scipy import stats

    scores, accuracy = ranked_scores(scores), np.asarray(accuracy, dtype=np.float64)
    out = {"kendall_tau": float(stats.kendalltau(scores, accuracy).statistic),
           "spearman_rho": float(stats.spearmanr(scores, accuracy).statistic),
           "weighted_tau": float(stats.weightedtau(scores, accuracy).statistic)}
    taus, rhos, weighted = [], [], []
    with warnings.catch_warnings():  # a resample of tied scores has no correlation: NaN, left out below
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        for _ in range(resamples):
            pick = rng.integers(0, len(scores), len(scores))
            taus.append(stats.kendalltau(scores[pick], accuracy[pick]).statistic)
            rhos.append(stats.spearmanr(scores[pick], accuracy[pick]).statistic)
            weighted.append(stats.weightedtau(scores[pick], accuracy[pick]).statistic)
    out["kendall_tau_ci"] = [float(v) for v in np.nanpercentile(taus, [2.5, 97.5])]
    out["spearman_rho_ci"] = [float(v) for v in np.nanpercentile(rhos, [2.5, 97.5])]
    out["weighted_tau_ci"] = [float(v) for v in np.nanpercentile(weighted, [2.5, 97.5])]
    return out


def pick_accuracy(scores, accuracy) -> float:
    """The table accuracy of the best-scored cell (the first among ties; a NaN score never wins): the pick."""
    return float(np.asarray(accuracy)[int(np.nanargmax(np.nan_to_num(scores, nan=-np.inf)))])


def expected_pick(scores, accuracy, among: int) -> float:
    """The mean table accuracy of the best-scored cell among `among` of these cells drawn without replacement,
    exact over every such draw: what a search that scores `among` random cells picks on average (far steadier
    than one search's pick). Tied scores share their chance alike; a NaN score never wins."""
    from scipy.special import gammaln

    scores, accuracy = ranked_scores(scores), np.asarray(accuracy, dtype=np.float64)
    n = len(scores)
    k = min(among, n)
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # groups of tied scores, best first
    ends = np.r_[starts[1:], n]

    def none_drawn(m: np.ndarray) -> np.ndarray:
        """P(none of the m best-scored cells is drawn) = C(n - m, k) / C(n, k)."""
        rest = np.maximum(n - m - k, 0)
        log = gammaln(n - m + 1) + gammaln(n - k + 1) - gammaln(rest + 1) - gammaln(n + 1)
        return np.where(n - m >= k, np.exp(log), 0.0)

    chance = none_drawn(starts) - none_drawn(ends)  # the best drawn cell is in this group
    group_mean = np.add.reduceat(accuracy[order], starts) / (ends - starts)
    return float(np.sum(chance * group_mean))


def pick_bootstrap(scores, accuracy, among: int, rng: np.random.Generator, resamples: int = BOOTSTRAP,
                   reference=None) -> dict:
    """`expected_pick` with a percentile-bootstrap 95 % interval over the cells; with `reference` (another
    scorer's scores of the same cells) the paired difference to its expected pick, resampled alike."""
    scores, accuracy = np.asarray(scores, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    reference = None if reference is None else np.asarray(reference, dtype=np.float64)
    value = expected_pick(scores, accuracy, among)
    minus = None if reference is None else value - expected_pick(reference, accuracy, among)
    values, differences = [], []
    for _ in range(resamples):
        pick = rng.integers(0, len(scores), len(scores))
        values.append(expected_pick(scores[pick], accuracy[pick], among))
        if reference is not None:
            differences.append(values[-1] - expected_pick(reference[pick], accuracy[pick], among))
    out = {"expected_pick": value, "expected_pick_ci": [float(v) for v in np.percentile(values, [2.5, 97.5])]}
    if reference is not None:
        out["expected_pick_difference"] = minus
        out["expected_pick_difference_ci"] = [float(v) for v in np.percentile(differences, [2.5, 97.5])]
    return out


def paired_difference(scores, reference, accuracy, rng: np.random.Generator, resamples: int = BOOTSTRAP) -> dict:
    """tau(scores) - tau(reference) on the same cells, and the same for the weighted tau, each with a 95 %
    interval from resampling the cells once for both (a paired bootstrap)."""
    from scipy import stats

    scores, reference = ranked_scores(scores), ranked_scores(reference)
    accuracy = np.asarray(accuracy, dtype=np.float64)
    measures = {"tau": stats.kendalltau, "weighted_tau": stats.weightedtau}

    def difference(measure, pick) -> float:
        return measure(scores[pick], accuracy[pick]).statistic - measure(reference[pick], accuracy[pick]).statistic

    every = np.arange(len(accuracy))
    diffs = {name: [] for name in measures}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        for _ in range(resamples):
            pick = rng.integers(0, len(accuracy), len(accuracy))
            for name, measure in measures.items():
                diffs[name].append(difference(measure, pick))
    out = {}
    for name, measure in measures.items():
        out[f"{name}_difference"] = float(difference(measure, every))
        out[f"{name}_difference_ci"] = [float(v) for v in np.nanpercentile(diffs[name], [2.5, 97.5])]
    return out


class ScoreCache:
    """scores.json: {"GROUP:SCORER": {cell key: score}, "settings": {SCORER: what its scores depend on}}, rewritten
    atomically every few cells (resumable). A scorer whose scores were made with other settings (another network,
    minibatch, seed or data for a proxy; another run behind NAME, --eval-examples or --bn-batches for a supernet) is
    refused, so one --out never mixes two studies' scores; a scores.json older than the settings entry is taken as
    made with this invocation's."""

    def __init__(self, path: Path, settings: dict[str, dict]):
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {}
        stored = self.data.setdefault(SETTINGS_KEY, {})
        for scorer, wanted in json.loads(json.dumps(settings)).items():
            if stored.setdefault(scorer, wanted) != wanted:
                sys.exit(f"zero_cost_nb101: {path} holds scores of {scorer!r} made with {stored[scorer]}, not "
                         f"{wanted}; use another --out")

    def get(self, scorer: str, key: str):
        return self.data.get(scorer, {}).get(key)

    def put(self, scorer: str, key: str, value: float) -> None:
        self.data.setdefault(scorer, {})[key] = value

    def save(self) -> None:
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps(self.data))
        os.replace(temp, self.path)


def score_all(name: str, score, cells: list, keys: list[str], cache: ScoreCache) -> list[float]:
    from tqdm import tqdm

    values = []
    for i, (arch, key) in enumerate(tqdm(list(zip(cells, keys)), desc=name, unit="cell", leave=False)):
        value = cache.get(name, key)
        if value is None:
            value = float(score(arch))
            cache.put(name, key, value)
            if i % 10 == 9:
                cache.save()
        values.append(value)
    cache.save()
    return values


def proxy_scorers(args, proxies) -> tuple[dict, dict]:
    """name -> score(arch) for the zero-cost proxies at the requested network size, and name -> what their scores
    depend on besides the cell (what `ScoreCache` checks a cached score against)."""
    from samplenas.supernet.factory import make_supernet, network_settings
    from samplenas.training.data import load_dataset
    from samplenas.training.tasks import make_task
    from samplenas.training.train_config import TrainConfig
    from samplenas.training.zero_cost import ZeroCostScorer, proxy_batch

    network = json.loads(args.network)
    config = TrainConfig(space="nb101", sampler="uniform", data=args.data, data_dir=args.data_dir, network=network)
    data = load_dataset(args.data, args.data_dir, ("train",))
    supernet = make_supernet("nb101", network_settings("nb101", config.network_settings(), data.info))
    task = make_task(config.recipe(), data.info)
    batch = proxy_batch(data.train, args.batch_size, args.seed)
    scorers = {name: ZeroCostScorer(name, supernet, task, batch, args.seed) for name in proxies}
    depends_on = {"network": network, "batch_size": args.batch_size, "seed": args.seed, "data": args.data}
    return ({name: (lambda arch, s=scorer: s.score(arch)["score"]) for name, scorer in scorers.items()},
            {name: depends_on for name in proxies})


def supernet_scorers(args) -> tuple[dict, dict]:
    """supernet:NAME and supernet-loss:NAME -> score(arch) for every --run NAME=RUN, and each -> what its scores
    depend on besides the cell (the resolved run, the validation images and BN batches)."""
    from samplenas.training.supernet_ensemble import open_runs
    from samplenas.training.supernet_run import open_run

    scorers, settings = {}, {}
    for entry in args.run:
        name, _, run = entry.partition("=")
        if not run:
            sys.exit(f"zero_cost_nb101: --run takes NAME=RUN, got {entry!r}")
        path = Path(run)
        folder, checkpoint = (path.parent.parent, path) if path.is_file() else (path, None)
        evaluation = {"eval_examples": args.eval_examples, "bn_batches": args.bn_batches}
        if (folder / FEW_SHOT_FILE).exists():  # sub-supernets of tools/few_shot_nb101.py
            trainer = FewShotScorer(folder, evaluation)
        elif checkpoint is None:  # a run, or the members of an ensemble run (`train --members`) as one
            trainer = open_runs([folder], evaluation=evaluation)
        else:
            trainer = open_run(folder, checkpoint=checkpoint, evaluation=evaluation)
        score = functools.lru_cache(maxsize=None)(trainer.score)  # accuracy and loss from one evaluation
        scorers[f"supernet:{name}"] = lambda arch, s=score: s(tuple(arch))["score"]
        scorers[f"supernet-loss:{name}"] = lambda arch, s=score: -s(tuple(arch))["loss"]
        settings[f"supernet:{name}"] = settings[f"supernet-loss:{name}"] = {"run": str(path.resolve()), **evaluation}
    return scorers, settings


def detrended_names(scorers: dict) -> dict[str, str]:
    """{supernet-detrended:NAME: supernet:NAME, ...}: a detrended scorer for each supernet scorer."""
    from samplenas.training.scorers import DETRENDED

    names = {}
    for name in scorers:
        kind, _, run = name.partition(":")
        if kind in ("supernet", "supernet-loss"):
            names[f"{kind}{DETRENDED}:{run}"] = name
    return names


def supernet_trends(detrended: dict[str, str], scorers: dict, space, seed: int, cache) -> dict[str, float]:
    """{detrended scorer: its trend per operation}, fitted over the reference sample a search of `seed`
    fits it over (its scores cached as reference:NAME)."""
    from samplenas.training.scorers import operation_trend, reference_cells

    cells = reference_cells(space, seed=seed)
    keys = [",".join(map(str, arch)) for arch in cells]  # by encoding: equal cells may score differently, as in search
    counts = [space.operation_count(arch) for arch in cells]
    return {name: operation_trend(counts, score_all(f"reference:{raw}", scorers[raw], cells, keys, cache))
            for name, raw in detrended.items()}


def combination_weights(text: str, scored, kind: str) -> dict[str, float]:
    """{scorer: weight} of a --hybrid or --learned combination ("A+B": equal weights, "0.25*A+0.75*B" as
    given), parsed as `search --scorer` parses its names; a bad one ends the run in one line."""
    from samplenas.errors import UserError
    from samplenas.training.scorers import UnknownScorer, scorer_weights

    try:
        return scorer_weights(text, valid=list(scored))
    except UnknownScorer as error:
        sys.exit(f"zero_cost_nb101: {kind} {text!r} names {error.part!r}, which is not scored here")
    except UserError as error:
        sys.exit(f"zero_cost_nb101: {kind} {text!r}: {error}")


def landmark_cells(args, table, space) -> tuple[list, np.ndarray]:
    """The --landmarks cells and their labels, every line checked. Not `samplenas fit-scorer`'s reader: a
    study's landmarks may hold two encodings of one cell (both are fitted on), which fit-scorer refuses."""
    cells, labels = [], []
    for number, line in enumerate(args.landmarks.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            arch = space.validate(list(entry["arch"]))
            label = None if args.landmark_label == "table" else float(entry[args.landmark_label])
        except (ValueError, KeyError, TypeError) as error:
            sys.exit(f"zero_cost_nb101: {args.landmarks}:{number} is not a cell with {args.landmark_label!r}: {error}")
        cells.append(arch)
        labels.append(label)
    if len(cells) < 3:
        sys.exit(f"zero_cost_nb101: {args.landmarks} holds {len(cells)} cells; the weights need at least 3")
    if args.landmark_label == "table":
        labels = table.values("test_accuracy", table.lookup_archs(cells), repeat=0)
    return cells, np.asarray(labels, dtype=np.float64)


def fit_learned(args, landmarks: tuple[list, np.ndarray], learned: dict[str, list[str]], scorers: dict,
                cache: ScoreCache, space) -> dict:
    """{learned:A+B: {weights, landmark tau}}: each combination's weights fitted on the landmarks' rank
    positions (the same normalised ranks the judged cells are combined with). `learned`: name -> parts."""
    from samplenas.training.scorer_weights import fit_rank_weights
    from samplenas.training.zero_cost import combined_ranks

    cells, labels = landmarks
    keys = [space.key(arch) for arch in cells]
    parts = sorted({part for names in learned.values() for part in names})
    columns = {part: score_all(f"landmarks:{part}", scorers[part], cells, keys, cache) for part in parts}
    fitted = {}
    for name, names in learned.items():
        positions = {part: combined_ranks([columns[part]]) for part in names}
        weights, value = fit_rank_weights(positions, labels, objective=args.learned_objective)
        fitted[f"learned:{name}"] = {"weights": weights, "objective": args.learned_objective,
                                     "landmark_value": value, "landmarks": len(cells), "label": args.landmark_label}
    return fitted


def weight_curve(columns: list, accuracy, name: str) -> dict:
    """tau, weighted tau, the pick and the best ten's mean accuracy of w * rank(A) + (1 - w) * rank(B)."""
    from scipy import stats

    from samplenas.training.zero_cost import combined_ranks

    accuracy = np.asarray(accuracy, dtype=np.float64)
    curve = {"parts": name.split("+"), "weights": [], "kendall_tau": [], "weighted_tau": [],
             "pick_test_accuracy": [], "top10_mean_accuracy": []}
    for weight in np.linspace(0.0, 1.0, 21):
        scores = np.asarray(combined_ranks(columns, [weight, 1.0 - weight]))
        curve["weights"].append(round(float(weight), 2))
        curve["kendall_tau"].append(float(stats.kendalltau(scores, accuracy).statistic))
        curve["weighted_tau"].append(float(stats.weightedtau(scores, accuracy).statistic))
        curve["pick_test_accuracy"].append(pick_accuracy(scores, accuracy))
        curve["top10_mean_accuracy"].append(float(accuracy[np.argsort(-scores, kind="stable")[:10]].mean()))
    return curve


def plot_curve(curve: dict, path: Path) -> None:
    from samplenas.plotting import pyplot, save_figure

    plt = pyplot()
    first, second = curve["parts"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    left.plot(curve["weights"], curve["kendall_tau"], marker="o", markersize=3, label="Kendall tau")
    left.plot(curve["weights"], curve["weighted_tau"], marker="s", markersize=3, label="weighted tau")
    left.set_xlabel(f"weight of {first} (the rest: {second})")
    left.set_ylabel("rank correlation with the table")
    left.legend(fontsize=8)
    right.plot(curve["weights"], 100 * np.asarray(curve["pick_test_accuracy"]), marker="o", markersize=3,
               label="best-scored cell")
    right.plot(curve["weights"], 100 * np.asarray(curve["top10_mean_accuracy"]), marker="s", markersize=3,
               label="mean of the best-scored 10")
    right.set_xlabel(f"weight of {first}")
    right.set_ylabel("table test accuracy (%)")
    right.legend(fontsize=8)
    fig.suptitle(f"NAS-Bench-101: w * {first} + (1 - w) * {second}, rank positions", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def plot(report: dict, path: Path) -> None:
    from samplenas.plotting import pyplot, save_figure

    plt = pyplot()
    names = list(report["random"])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.65 * len(names) + 2), 4.2))
    for offset, (group, colour) in enumerate((("random", "tab:blue"), ("top", "tab:orange"))):
        if not report.get(group):
            continue
        taus = [report[group][n]["kendall_tau"] for n in names]
        low = [report[group][n]["kendall_tau"] - report[group][n]["kendall_tau_ci"][0] for n in names]
        high = [report[group][n]["kendall_tau_ci"][1] - report[group][n]["kendall_tau"] for n in names]
        x = np.arange(len(names)) + (offset - 0.5) * 0.38
        label = f"{report['cells']} random cells" if group == "random" else \
            f"{report['top_sample']} of the table's top {report['top_cells']}"
        ax.bar(x, taus, 0.38, yerr=[low, high], capsize=2, color=colour, label=label)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylim(top=max(0.8, ax.get_ylim()[1] + 0.25))  # room for the legend above the bars
    ax.set_xticks(np.arange(len(names)), names, rotation=35, ha="right")
    ax.set_ylabel("Kendall tau vs table (95 % CI)")
    ax.set_title("NAS-Bench-101: how each scorer ranks cells")
    ax.legend(loc="upper center", ncol=2, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from samplenas.spaces import SPACES
    from samplenas.training.zero_cost import PROXIES, combined_ranks

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    table = open_table(args.table, args.out)
    space = SPACES["nb101"]()
    groups = {"random": draw_random_cells(args.cells, args.random_cells, args.table)}
    landmarks = landmark_cells(args, table, space) if args.landmarks else None
    excluded = {tuple(arch) for arch in landmarks[0]} if landmarks else set()
    if args.exclude_cells:
        excluded |= {tuple(json.loads(line)["arch"]) for line in args.exclude_cells.read_text().splitlines() if line}
    groups["random"] = [arch for arch in groups["random"] if tuple(arch) not in excluded]
    if args.top_sample:
        best = [h for h, _ in table.top_k(args.top_cells, repeat=0)]
        drawn = np.random.default_rng(54321).choice(len(best), min(args.top_sample, len(best)), replace=False)
        groups["top"] = table_cells(table, space, [best[i] for i in sorted(drawn)])
    proxies = args.proxies if args.proxies is not None else list(PROXIES)
    unknown = sorted(set(proxies) - set(PROXIES))
    if unknown:
        sys.exit(f"zero_cost_nb101: unknown proxy {unknown[0]!r}; valid: {', '.join(PROXIES)}")
    proxy_scores, proxy_settings = proxy_scorers(args, proxies)
    supernet_scores, supernet_settings = supernet_scorers(args)
    scorers = {**proxy_scores, **supernet_scores}
    detrended = detrended_names(scorers)
    hybrids = {hybrid: combination_weights(hybrid, [*scorers, *detrended, "table_flops"], "hybrid")
               for hybrid in args.hybrid}
    learned = {name: list(combination_weights(name, scorers, "learned")) for name in args.learned}
    if any("*" in name for name in learned):
        sys.exit("zero_cost_nb101: --learned takes parts without weights; the weights are what it fits")
    if args.curve and (args.curve.count("+") != 1 or any(part not in scorers for part in args.curve.split("+"))):
        sys.exit(f"zero_cost_nb101: --curve takes two scorers scored here joined by '+', got {args.curve!r}")
    learned_names = [f"learned:{name}" for name in learned]
    if args.paired_against and args.paired_against not in [*scorers, *detrended, *args.hybrid, *learned_names,
                                                            "table_flops", "table_params"]:
        sys.exit(f"zero_cost_nb101: --paired-against {args.paired_against!r} is not scored here")
    cache = ScoreCache(args.out / "scores.json", {**proxy_settings, **supernet_settings})
    rng = np.random.default_rng(2024)
    report = {"command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
              "cells": len(groups["random"]), "random_cells": args.random_cells, "top_cells": args.top_cells,
              "top_sample": args.top_sample,
              "pick_among": args.pick_among, "paired_against": args.paired_against,
              "network": json.loads(args.network), "batch_size": args.batch_size, "seed": args.seed, "data": args.data}
    trends = supernet_trends(detrended, scorers, space, args.seed, cache)
    if trends:
        report["trends"] = trends
    if args.learned:
        report["learned"] = fit_learned(args, landmarks, learned, scorers, cache, space)
    for group, cells in groups.items():
        rows = table.lookup_archs(cells)
        accuracy = table.values("test_accuracy", rows, repeat=0)
        keys = [space.key(arch) for arch in cells]
        columns = {"table_flops": table.values("flops_thop", rows).tolist()}
        params = table.values("trainable_parameters", rows)
        if np.isfinite(params).all():
            columns["table_params"] = params.tolist()
        for name, score in scorers.items():
            columns[name] = score_all(f"{group}:{name}", score, cells, keys, cache)
        counts = [space.operation_count(arch) for arch in cells]
        for name, raw in detrended.items():
            columns[name] = [value - trends[name] * count for value, count in zip(columns[raw], counts)]
        for hybrid, weights in hybrids.items():
            columns[hybrid] = combined_ranks([columns[part] for part in weights], list(weights.values()))
        for name, fitted in report.get("learned", {}).items():
            weights = fitted["weights"]
            columns[name] = combined_ranks([columns[part] for part in weights], list(weights.values()))
        report[group] = {name: bootstrap(values, accuracy, rng, args.resamples) for name, values in columns.items()}
        if args.paired_against in columns:
            paired_rng = np.random.default_rng(2025)  # its own stream: the intervals above stay as they were
            for name, values in columns.items():
                if name != args.paired_against:
                    report[group][name][f"minus {args.paired_against}"] = paired_difference(
                        values, columns[args.paired_against], accuracy, paired_rng, args.resamples)
        pick_rng = np.random.default_rng(2027)  # its own stream: the intervals above stay as they were
        reference = columns.get(args.paired_against)
        for name, values in columns.items():
            report[group][name]["pick_test_accuracy"] = pick_accuracy(values, accuracy)
            report[group][name]["pick_among"] = pick_bootstrap(
                values, accuracy, args.pick_among, pick_rng, args.resamples,
                reference=None if name == args.paired_against else reference)
        if args.curve and group == "random":
            report["curve"] = weight_curve([columns[part] for part in args.curve.split("+")], accuracy, args.curve)
            plot_curve(report["curve"], args.out / "curve.png")
        report[group + "_mean_accuracy"] = float(np.mean(accuracy))
        report[group + "_best_accuracy"] = float(np.max(accuracy))
    report["seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "zero_cost.json").write_text(json.dumps(report, indent=1))
    plot(report, args.out / "zero_cost.png")
    print_report(report)
    return 0


def print_report(report: dict) -> None:
    def cell(stat: dict, name: str) -> str:
        low, high = stat[f"{name}_ci"]
        return f"{stat[name]:+.3f} [{low:+.2f}, {high:+.2f}]"

    def pick_cell(pick: dict) -> str:
        low, high = pick["expected_pick_ci"]
        return f"{100 * pick['expected_pick']:.2f} [{100 * low:.2f}, {100 * high:.2f}]"

    print(f"{report['cells']} random cells (mean {100 * report['random_mean_accuracy']:.2f} %, best "
          f"{100 * report['random_best_accuracy']:.2f} %), network {json.dumps(report['network'])}, "
          f"batch {report['batch_size']}, {report['data']}")
    among = report.get("pick_among", PICK_AMONG)
    header = (f"{'scorer':<34} {'tau random [95% CI]':>24} {'rho random [95% CI]':>24} {'weighted tau':>24} "
              f"{'pick %':>7} {f'pick of {among} % [95% CI]':>24}")
    if report.get("top"):
        header += f" {'tau top [95% CI]':>24}"
    print(header)
    for name, stat in report["random"].items():
        line = (f"{name:<34} {cell(stat, 'kendall_tau'):>24} {cell(stat, 'spearman_rho'):>24} "
                f"{cell(stat, 'weighted_tau'):>24} {100 * stat['pick_test_accuracy']:>7.2f} "
                f"{pick_cell(stat['pick_among']):>24}")
        if report.get("top") and name in report["top"]:
            line += f" {cell(report['top'][name], 'kendall_tau'):>24}"
        print(line)
    for name, stat in report["random"].items():
        for key, diff in stat.items():
            if key.startswith("minus "):
                low, high = diff["tau_difference_ci"]
                w_low, w_high = diff["weighted_tau_difference_ci"]
                print(f"tau({name}) - tau({key[6:]}), paired: {diff['tau_difference']:+.3f} [{low:+.3f}, {high:+.3f}]; "
                      f"weighted tau: {diff['weighted_tau_difference']:+.3f} [{w_low:+.3f}, {w_high:+.3f}]")
        pick = stat["pick_among"]
        if "expected_pick_difference" in pick:
            low, high = pick["expected_pick_difference_ci"]
            print(f"pick of {among}({name}) - pick of {among}({report['paired_against']}), paired: "
                  f"{100 * pick['expected_pick_difference']:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}] points")
    for name, fitted in report.get("learned", {}).items():
        weights = ", ".join(f"{part} {weight:.2f}" for part, weight in fitted["weights"].items())
        print(f"{name}: weights {weights}; {fitted['objective']} {fitted['landmark_value']:+.3f} on its "
              f"{fitted['landmarks']} landmarks ({fitted['label']})")
    print(f"{report['seconds']} s; {report['command']}")


if __name__ == "__main__":
    sys.exit(main())
