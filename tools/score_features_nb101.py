"""What does each scorer rank NAS-Bench-101 cells by? Its Kendall tau against the cells' structure.

Every scorer of a zero-cost study (`tools/zero_cost_nb101.py --out STUDY`) is set against the table and
against the structure of the same cells.

A scorer that ranks cells badly may still rank them consistently, by something other than their quality. This
tool puts the table's own test accuracy beside simple features of each random cell the study scored:
its vertices, edges and depth (the longest path from the input), how many of each op it has, and whether
its input feeds its output directly (the edge input->output). A feature the scorer follows and the table
does not is a bias of the scorer, and a place to look for a remedy.

`--within FEATURE` asks what a scorer's order is worth with that bias taken out: each scorer's score becomes its
position among the cells that share the feature's value (its percentile within cells of equal vertex count, say),
and the tool gives that position's tau against the table beside the scorer's own. It needs no labels, so a
search could score that way.

    python tools/zero_cost_nb101.py --out runs/zc --proxies params --top-sample 0 --run fair=runs/fair
    python tools/score_features_nb101.py --study runs/zc          # prints the table, writes runs/zc/features.json
    python tools/score_features_nb101.py --study runs/zc --within vertices
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_nb101 import DATA, draw_random_cells, open_table  # noqa: E402

FEATURES = ("vertices", "edges", "depth", "conv3x3", "conv1x1", "maxpool3x3", "input->output")
SCORES = "scores.json"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--study", type=Path, required=True,
                   help="a tools/zero_cost_nb101.py output folder (its scores.json)")
    p.add_argument("--table", default=str(DATA / "nasbench101" / "nb101_table_repeat0.npz"))
    p.add_argument("--scorers", nargs="*", help="the study's scorers to show (default: every one it scored)")
    p.add_argument("--labelled", type=Path, help="also a row for other labelled cells: JSON lines with \"arch\" and "
                   "--label (e.g. docs/data/nb101_ceiling_cells.jsonl, cells trained alone), over those cells")
    p.add_argument("--label", default="val_accuracy", help="the --labelled cells' label (default val_accuracy)")
    p.add_argument("--within", choices=FEATURES, metavar="FEATURE",
                   help="also each scorer's tau when its cells are ranked only against cells with the same value of "
                        f"FEATURE (their percentile within it; one of {', '.join(FEATURES)})")
    return p.parse_args(argv)


def cell_features(spec) -> dict[str, int]:
    """Structural features of one pruned cell (a ModelSpec)."""
    from samplenas.supernet.nasbench101 import depth_weight_ids

    matrix, n = np.asarray(spec.matrix), len(spec.ops)
    # the output's depth: one more than its deepest interior vertex, which feeds it (a pruned cell has no dead end)
    depth = max(depth_weight_ids(matrix)[1:-1], default=0) + 1
    ops = list(spec.ops)
    return {"vertices": n, "edges": int(matrix.sum()), "depth": depth,
            "conv3x3": ops.count("conv3x3-bn-relu"), "conv1x1": ops.count("conv1x1-bn-relu"),
            "maxpool3x3": ops.count("maxpool3x3"), "input->output": int(matrix[0, n - 1])}


def random_cells_scored(scores: dict, names: list[str], space, drawn_over: str, table: str, count: int = 1000) -> list:
    """The study's random cells scored by every one of `names`: the shared seeded draw (over what the study drew
    them from), kept where the study scored them (it may exclude some)."""
    cells = draw_random_cells(count, drawn_over, table)
    return [arch for arch in cells if all(space.key(arch) in scores[f"random:{name}"] for name in names)]


def labelled_row(path: Path, label: str, space) -> dict:
    """Tau of other cells' label against their features (their own cells: no table accuracy column)."""
    from samplenas.errors import UserError
    from samplenas.training.scorer_fit import read_labelled

    try:
        archs, labels = read_labelled(path, space, label)
    except UserError as error:
        sys.exit(f"score_features_nb101: {error}")
    features = [cell_features(space.decode(arch)) for arch in archs]
    tau = {f: kendall(labels, [row[f] for row in features]) for f in FEATURES}
    return {"file": str(path), "label": label, "cells": len(archs), "tau": tau}


def within_groups(values, groups) -> list[float]:
    """Each value's percentile among the values of its group (average ranks, in (0, 1))."""
    from scipy.stats import rankdata

    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    positions = np.empty(len(values))
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        positions[members] = (rankdata(values[members]) - 0.5) / len(members)
    return positions.tolist()


def kendall(a, b) -> float | None:
    """Kendall's tau-b; None where either side is constant (strict JSON has no NaN)."""
    from scipy.stats import kendalltau

    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(kendalltau(a, b)[0])


def main(argv=None) -> int:
    args = parse_args(argv)
    from samplenas.spaces import SPACES
    from samplenas.training.checkpoint import save_json

    path = args.study / SCORES
    if not path.is_file():
        sys.exit(f"score_features_nb101: {path} does not exist (run tools/zero_cost_nb101.py --out {args.study} first)")
    scores = json.loads(path.read_text())
    space = SPACES["nb101"]()
    names = args.scorers or [name.removeprefix("random:") for name in scores if name.startswith("random:")]
    unknown = [name for name in names if f"random:{name}" not in scores]
    if unknown:
        sys.exit(f"score_features_nb101: the study scored no random cells with {unknown[0]!r}")
    report = args.study / "zero_cost.json"  # studies older than --random-cells drew over encodings
    drawn_over = json.loads(report.read_text()).get("random_cells", "encodings") if report.exists() else "encodings"
    cells = random_cells_scored(scores, names, space, drawn_over, args.table)
    if len(cells) < 2:
        sys.exit("score_features_nb101: fewer than 2 random cells scored by every scorer asked for")
    table = open_table(args.table, args.study)
    accuracy = table.values("test_accuracy", table.lookup_archs(cells), repeat=0).tolist()
    features = [cell_features(space.decode(arch)) for arch in cells]
    columns = {"table accuracy": accuracy, **{f: [row[f] for row in features] for f in FEATURES}}
    keys = [space.key(arch) for arch in cells]
    scored = {name: [scores[f"random:{name}"][key] for key in keys] for name in names}
    report = {"study": str(args.study), "cells": len(cells),
              "tau": {name: {row: kendall(values, column) for row, column in columns.items()}
                      for name, values in {"table accuracy": accuracy, **scored}.items()}}
    if args.labelled:
        report["labelled"] = labelled_row(args.labelled, args.label, space)
        report["tau"][f"{args.label} of {args.labelled.name}"] = report["labelled"]["tau"]
    if args.within:
        group = columns[args.within]
        report["within"] = {"feature": args.within, "groups": {str(k): int(n) for k, n in
                                                               zip(*np.unique(group, return_counts=True))},
                            "tau": {name: {"own": report["tau"][name]["table accuracy"],
                                           "within": kendall(within_groups(values, group), accuracy)}
                                    for name, values in scored.items()}}
    save_json(args.study / "features.json", report)
    width = max(len(name) for name in report["tau"]) + 2
    print(f"Kendall tau over {len(cells)} random cells of {args.study}: each scorer (row) against the table's "
          "accuracy and each feature (column)")
    print(" " * width + "".join(f"{row:>15}" for row in columns))
    for name, row in report["tau"].items():
        print_row(name, width, [row.get(column) for column in columns])
    if args.within:
        print(f"\nKendall tau against the table, each scorer ranked only within cells of equal {args.within} "
              f"(cells per value: {report['within']['groups']})")
        for name, row in report["within"]["tau"].items():
            print_row(name, width, [row["own"], row["within"]])
    return 0


def print_row(name: str, width: int, taus: list[float | None]) -> None:
    """One scorer's line: its taus in columns of 15, blank where tau is undefined."""
    print(f"{name:<{width}}" + "".join(f"{'' if tau is None else format(tau, '+.3f'):>15}" for tau in taus))


if __name__ == "__main__":
    sys.exit(main())
