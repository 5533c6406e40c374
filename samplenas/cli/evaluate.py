"""`samplenas evaluate`: re-run the test set on a retrained network and print its metrics."""

from __future__ import annotations

from samplenas.cli.threads import add_threads_option
from samplenas.strict_json import dumps


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="re-run the test set on a `samplenas retrain` output folder")
    p.add_argument("--checkpoint", required=True, help="the retrain output folder (or its checkpoint.pt)")
    p.add_argument("--data-dir", help="where the data set lives now (default: as recorded)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="where to compute (default: a GPU when visible)")
    add_threads_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from samplenas.training.evaluate_checkpoint import evaluate_checkpoint

    print(dumps(evaluate_checkpoint(args.checkpoint, data_dir=args.data_dir, device=args.device), indent=2))
    return 0
