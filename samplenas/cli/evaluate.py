"""`samplenas evaluate`: re-run the test set on a retrained network and print its metrics."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="re-run the test set on a `samplenas retrain` output folder")
    p.add_argument("--checkpoint", required=True, help="the retrain output folder (or its checkpoint.pt)")
    p.add_argument("--data-dir", help="where the data set lives now (default: as recorded)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: a GPU when visible")
    p.set_defaults(func=run)


def run(args) -> int:
    from samplenas.training.retrain import evaluate_checkpoint

    print(json.dumps(evaluate_checkpoint(args.checkpoint, data_dir=args.data_dir, device=args.device), indent=2))
    return 0
