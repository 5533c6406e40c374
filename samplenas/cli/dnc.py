"""`samplenas dnc`: Deep-n-Cheap's three-stage search (BO core architecture, grid stages, BO training
hyper-parameters) with a training-time or parameter-count penalty; `samplenas dnc plot RUN...` draws the
family of networks found for several w_c."""

from __future__ import annotations

from pathlib import Path

from samplenas.cli.options import add_ray_options, datasets_text, output_folder, ray_settings
from samplenas.errors import UserError
from samplenas.strict_json import dumps

# (flag, settings field, type, nargs, help); every other setting goes through --config
SETTING_FLAGS = (
    ("--model", "model", str, None, "cnn or mlp (default mlp)"),
    ("--data", "data", str, None, f"data set: {datasets_text()} (default: digits)"),
    ("--data-dir", "data_dir", str, None, "folder holding the data set"),
    ("--limit", "limit", int, None, "at most this many examples per split (quick runs)"),
    ("--val-fraction", "val_fraction", float, None, "validation share of the training set (default 0.2)"),
    ("--penalty", "penalty", str, None, "time (t_tr per epoch) or params (N_p); default time"),
    ("--cost-weight", "cost_weight", float, None, "w_c >= 0 (default 0)"),
    ("--epochs", "epochs", int, None, "epochs per candidate (paper: 100 CNN / 60 MLP)"),
    ("--evaluations", "evaluations", int, None, "evaluations per BO stage: Sobol points + EI steps (default 30)"),
    ("--initial", "initial", int, None, "Sobol points of each BO stage (default: half of --evaluations)"),
    ("--pool", "pool", int, None, "configurations scored by EI per step (paper n_3 = 1000)"),
    ("--strategy", "strategy", str, None, "stages 1 and 3: bo, random or sobol (baselines)"),
    ("--parallel", "parallel", int, None, "candidates per BO round (default: --workers, else 1)"),
    ("--seed", "seed", int, None, "seed of sampling, initialisation and data split"),
    ("--layers", "layers", int, 2, "layers (CNN conv layers, default 4 16; MLP hidden, 0 2)"),
    ("--widths", "widths", int, 2, "first-layer channels (CNN, 16 64) / hidden nodes (MLP, 20 400)"),
    ("--lr-log10", "lr_log10", float, 2, "log10 learning rate of stage 3 (default -5 -1)"),
    ("--wd-log10", "wd_log10", float, 2, "log10 weight decay of stage 3 (default -6 -3)"),
    ("--batch", "batch", int, 2, "batch size of stage 3 (default 32 512)"),
)


# the two ways to call `dnc`, as its usage line shows them (argparse would list `plot` as required and
# --out as optional, the opposite of the truth)
USAGE = """%(prog)s --out OUT [--resume | --overwrite] [--config FILE] [setting flags ...]
       %(prog)s plot RUN [RUN ...] [--png PNG]"""


def register(subparsers) -> None:
    p = subparsers.add_parser("dnc", help="Deep-n-Cheap: staged search with a complexity penalty (Ray)",
                              description=__doc__, usage=USAGE)
    for flag, dest, kind, nargs, text in SETTING_FLAGS:
        p.add_argument(flag, dest=dest, type=kind, nargs=nargs, help=text,
                       metavar=("LOW", "HIGH") if nargs == 2 else None)
    p.add_argument("--config", metavar="FILE", help="JSON object of DnC settings (any field; flags override it)")
    p.add_argument("--out", type=output_folder,
                   help="run folder of the search, required (result.json, evaluations.jsonl, state.json, tb/, "
                        "PNGs)")
    add_ray_options(p, "DnC")
    p.add_argument("--transfer", metavar="FROM_RUN", help="keep stages 1-2 of another run; redo stage 3 here")
    p.add_argument("--stop-after", type=int, metavar="N", help="stop after N new evaluations (resume later)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="dnc_command", metavar="plot", title="instead of a search (optional)",
                           prog=p.prog)  # not the custom usage: `plot`'s name is built from this
    plot = sub.add_parser("plot", help="accuracy / t_tr / N_p against w_c from several runs")
    plot.add_argument("runs", nargs="+", metavar="RUN", help="DnC run folders or result.json files")
    plot.add_argument("--png", type=Path, default=Path("dnc_family.png"), help="output PNG (default dnc_family.png)")
    plot.set_defaults(func=run_plot)
    p.set_defaults(func=run)


def settings_of(args):
    from samplenas.population.dnc_settings import read_settings_file, settings_from

    config = read_settings_file(args.config) if args.config else {}
    flags = {dest: getattr(args, dest) for _, dest, _, _, _ in SETTING_FLAGS}
    if flags["parallel"] is None and "parallel" not in config and args.workers:
        flags["parallel"] = args.workers
    return settings_from(config, flags)


def run(args) -> int:
    if args.out is None:
        raise UserError("--out is required")
    if args.resume and args.overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    given = [flag for flag, dest, *_ in SETTING_FLAGS if getattr(args, dest) is not None] + \
        (["--config"] if args.config else [])
    if args.resume and given:
        raise UserError(f"--resume continues with the run's saved settings; drop {given[0]}")
    settings = None if args.resume else settings_of(args)  # validated before any work
    from samplenas.population.dnc import DncSearch

    search = DncSearch(settings, args.out, resume=args.resume, ray=ray_settings(args), transfer=args.transfer,
                       progress=not args.quiet, stop_after=args.stop_after, overwrite=args.overwrite)
    result = search.run()
    if result is None:
        print(f"stopped after --stop-after evaluations; continue with --resume (state in {args.out})")
        return 0
    best = result["best"]
    print(dumps({"best": {k: best[k] for k in ("arch", "hyper", "f", "val_acc", "test_acc", "t_tr", "params")},
                      "c0": result["c0"]["value"], "search_time_s": result["search_time_s"],
                      "result": str(args.out / "result.json")}))
    return 0


def run_plot(args) -> int:
    from samplenas.population.dnc import load_result

    search_flags = [flag for flag, dest, *_ in SETTING_FLAGS if getattr(args, dest) is not None] + \
        [f"--{name.replace('_', '-')}" for name in ("config", "out", "workers", "address", "transfer", "stop_after",
                                                   "timeout")
         if getattr(args, name) is not None] + [f"--{name}" for name in ("resume", "overwrite") if getattr(args, name)]
    if search_flags:  # `dnc --model cnn plot RUN` would silently ignore --model
        raise UserError(f"{search_flags[0]} is a search setting; `samplenas dnc plot` takes RUN folders and --png only")
    from samplenas.population.dnc_plot import family_plot

    results = [load_result(run) for run in args.runs]
    rows = family_plot(results, args.png)
    for row in rows:
        print(dumps(row))
    print(f"wrote {args.png}")
    return 0
