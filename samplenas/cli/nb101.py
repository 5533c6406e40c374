"""`samplenas nb101`: convert the official NAS-Bench-101 files to a table, query it, summarise it."""

from __future__ import annotations

import importlib
import json
import math
from typing import TYPE_CHECKING

from samplenas.errors import UserError
from samplenas.strict_json import dumps

if TYPE_CHECKING:  # the table code (numpy, h5py) is imported by the commands, not by `--help`
    import numpy as np

    from samplenas.benchmarks.nasbench101 import NASBench101
    from samplenas.spaces.nasbench101 import ModelSpec

# Further `nb101` subcommands live in their own modules under samplenas.cli, each with a
# `register(nb101_subparsers)`; add the module name here (e.g. "nb101_study").
SUBCOMMAND_MODULES: tuple[str, ...] = ("nb101_study", "nb101_pareto")


def _op_aliases() -> dict[str, str]:
    """Official op names and their short forms (conv3x3 for conv3x3-bn-relu) -> official names."""
    from samplenas.spaces.nasbench101 import CANONICAL_OPS, INPUT, OUTPUT

    return {INPUT: INPUT, OUTPUT: OUTPUT, **{op: op for op in CANONICAL_OPS},
            **{op.removesuffix("-bn-relu"): op for op in CANONICAL_OPS}}


def register(subparsers) -> None:
    parser = subparsers.add_parser("nb101", help="NAS-Bench-101 tables: convert, query, stats")
    commands = parser.add_subparsers(dest="nb101_command", required=True, metavar="SUBCOMMAND")

    p = commands.add_parser("convert", help="official tfrecord or shared npz -> HDF5 table")
    p.add_argument("source", help="nasbench_only108.tfrecord, nasbench_full.tfrecord or an npz table")
    p.add_argument("-o", "--output", required=True, metavar="TABLE.h5",
                   help="the HDF5 table to write (what query, stats, study and rank read)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=run_convert)

    p = commands.add_parser("query", help="all runs of one cell (by spec or by hash)")
    p.add_argument("--table", required=True, metavar="TABLE.h5", help="table written by `samplenas nb101 convert`")
    cell = p.add_mutually_exclusive_group(required=True)
    cell.add_argument("--matrix", metavar="ROWS",
                      help="adjacency rows of 0/1 digits, comma-separated, e.g. 0110,0001,0001,0000")
    cell.add_argument("--hash", metavar="H", help="official module hash")
    p.add_argument("--ops", metavar="OPS", help="comma-separated ops, first input, last output "
                   "(conv3x3, conv1x1, maxpool3x3 or their official names)")
    p.add_argument("--epochs", type=int, default=108,
                   help="training budget whose runs to show: 4, 12, 36 or 108 (the table's budgets; default 108)")
    p.add_argument("--json", action="store_true", help="machine-readable output (missing values are null)")
    p.set_defaults(func=run_query)

    p = commands.add_parser("stats", help="size, budgets, repeats and metric summaries of a table")
    p.add_argument("--table", required=True, metavar="TABLE.h5", help="table written by `samplenas nb101 convert`")
    p.add_argument("--json", action="store_true", help="machine-readable output (missing values are null)")
    p.set_defaults(func=run_stats)

    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"samplenas.cli.{name}").register(commands)


def run_convert(args) -> int:
    from samplenas.benchmarks.nasbench101_convert import convert

    summary = convert(args.source, args.output, progress=not args.quiet)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {summary['output']}: {summary['cells']:,} cells, budgets {summary['budgets']}, "
              f"up to {summary['max_repeats']} repeat(s), {summary['seconds']} s")
    return 0


def parse_spec(matrix_text: str, ops_text: str | None) -> ModelSpec:
    """A ModelSpec from the command-line forms of --matrix and --ops."""
    import numpy as np

    from samplenas.spaces.nasbench101 import ModelSpec

    if not ops_text:
        raise UserError("--matrix needs --ops")
    rows = [row.strip() for row in matrix_text.replace(";", ",").split(",") if row.strip()]
    if any(len(row) != len(rows) or set(row) - {"0", "1"} for row in rows):
        raise UserError(f"--matrix must be {len(rows)} rows of {len(rows)} 0/1 digits, got {matrix_text!r}")
    names = [name.strip() for name in ops_text.split(",")]
    aliases = _op_aliases()
    unknown = [name for name in names if name not in aliases]
    if unknown:
        raise UserError(f"unknown op {unknown[0]!r}; valid: {', '.join(aliases)}")
    try:
        return ModelSpec(np.array([[int(c) for c in row] for row in rows]), [aliases[n] for n in names])
    except ValueError as err:
        raise UserError(f"bad cell: {err}") from None


def run_query(args) -> int:
    from samplenas.benchmarks.nasbench101 import NASBench101
    from samplenas.benchmarks.nasbench101_records import METRICS

    bench = NASBench101(args.table)
    if args.hash and args.ops:
        raise UserError("--ops goes with --matrix, not with --hash")
    module_hash = args.hash if args.hash else bench.hash_of(parse_spec(args.matrix, args.ops))
    row = bench.lookup([module_hash])
    mean = {m: float(bench.values(m, row, args.epochs, repeat="mean")[0]) for m in METRICS}
    fixed, computed = bench.get_metrics_from_hash(module_hash)
    runs = computed.get(args.epochs, [])
    report = {
        "hash": module_hash,
        "module_adjacency": fixed["module_adjacency"].tolist(),
        "module_operations": fixed["module_operations"],
        "trainable_parameters": fixed["trainable_parameters"],
        "epochs": args.epochs,
        "runs": runs,
        "mean": mean,
    }
    if args.json:
        print(dumps(report))  # missing values are null
        return 0
    print(f"hash {module_hash}  params {_fmt(fixed['trainable_parameters'])}")
    for row_text, op in zip(report["module_adjacency"], report["module_operations"]):
        print(f"  {''.join(map(str, row_text))}  {op}")
    print(f"epochs {args.epochs}: {len(runs)} run(s) in the table")
    header = ["", *METRICS]
    lines = [[f"run {i}", *(_fmt(run[f"final_{m}"]) for m in METRICS)] for i, run in enumerate(runs)]
    lines += [[f"run {i} halfway", *(_fmt(run[f"halfway_{m}"]) for m in METRICS)] for i, run in enumerate(runs)]
    lines.append(["mean", *(_fmt(mean[m]) for m in METRICS)])
    _print_table(header, lines)
    return 0


def run_stats(args) -> int:
    from samplenas.benchmarks.nasbench101 import NASBench101

    bench = NASBench101(args.table)
    report = table_stats(bench)
    if args.json:
        print(dumps(report))  # missing values are null
        return 0
    print(f"{bench.path}: {report['cells']:,} cells from {report['source']}, budgets {report['budgets']}")
    print("vertices: " + ", ".join(f"{k}: {v:,}" for k, v in report["num_vertices"].items()))
    header = ["metric", "epochs", "cells", "mean", "min", "max"]
    present = [s for s in report["metrics"] if s["cells"]]
    lines = [[s["metric"], str(s.get("epochs", "")), f"{s['cells']:,}", _fmt(s["mean"]), _fmt(s["min"]),
              _fmt(s["max"])] for s in present]
    _print_table(header, lines)
    absent = len(report["metrics"]) - len(present)
    if absent:
        print(f"({absent} metric/budget combinations have no values in this table)")
    return 0


def table_stats(bench: NASBench101) -> dict:
    """How many cells have each metric, and its mean/min/max over cells (of the mean over repeats)."""
    from samplenas.benchmarks.nasbench101_records import METRICS

    summaries = [
        {"metric": f"{stage}_{metric}", "epochs": epochs,
         **_summary(bench.values(metric, None, epochs, stop_halfway=stage == "halfway"))}
        for epochs in bench.budgets
        for stage in ("final", "halfway")
        for metric in METRICS
    ]
    summaries += [{"metric": name, **_summary(bench.values(name))} for name in bench.metric_names()
                  if name not in METRICS]
    return {
        "cells": len(bench),
        "source": bench.source,
        "budgets": list(bench.budgets),
        "max_repeats": bench.config["num_repeats"],
        "num_vertices": bench.vertex_counts(),
        "metrics": summaries,
    }


def _summary(values: np.ndarray) -> dict:
    import numpy as np

    known = values[np.isfinite(values)]
    if not len(known):
        return {"cells": 0, "mean": math.nan, "min": math.nan, "max": math.nan}
    return {"cells": int(len(known)), "mean": float(known.mean()), "min": float(known.min()),
            "max": float(known.max())}


def _fmt(value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "missing"
    if isinstance(value, float) and abs(value) < 10:
        return f"{value:.4f}"
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


def _print_table(header: list[str], lines: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
