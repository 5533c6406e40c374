"""`samplenas rank --run RUN --table T.h5`: how well a NAS-Bench-101 supernet ranks architectures."""

from __future__ import annotations

from pathlib import Path

from samplenas.cli.options import add_ensemble_option, add_evaluation_options, evaluation_overrides
from samplenas.cli.scoring import add_scorer_option
from samplenas.cli.threads import add_threads_option


def register(subparsers) -> None:
    p = subparsers.add_parser("rank", help="Kendall tau / Spearman rho of an nb101 supernet against the table")
    p.add_argument("--run", required=True, type=Path, help="folder of a `samplenas train --space nb101` run")
    add_ensemble_option(p)
    p.add_argument("--table", required=True, type=Path, help="NAS-Bench-101 HDF5 table (`samplenas nb101 convert`)")
    p.add_argument("--n", type=int, default=100, help="cells drawn uniformly (distinct) and scored (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the drawn cells (default: 0)")
    p.add_argument("--device", help="cpu or cuda (default: a GPU when visible)")
    p.add_argument("--data-dir", help="override the run's data folder")
    add_evaluation_options(p)
    add_scorer_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from samplenas.training.rank import rank_run

    report = rank_run(args.run, args.table, args.n, args.seed, args.device, args.data_dir, progress=not args.quiet,
                      evaluation=evaluation_overrides(args), scorer=args.scorer,
                      standalone_steps=args.standalone_steps, standalone_downscale=args.standalone_downscale,
                      ensemble=args.ensemble)
    members = f" on an ensemble of {len(report['ensemble'])} supernets" if "ensemble" in report else ""
    print(f"{report['n']} cells scored by {report['scorer']}{members}: Kendall tau = {report['kendall_tau']:.4f} "
          f"(p = {report['kendall_p']:.2g}), "
          f"Spearman rho = {report['spearman_rho']:.4f} (p = {report['spearman_p']:.2g})")
    print(f"written: {args.run / 'rank.json'}")
    return 0
