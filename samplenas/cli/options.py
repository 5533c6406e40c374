"""Help texts that several commands share: the registered spaces, samplers and data sets, listed
from the lazy registries and `training.choices` (none imports torch), so that `--help` names every
valid value, a newly registered one included, and stays fast."""

from __future__ import annotations

import argparse
from pathlib import Path

from samplenas.samplers import SAMPLERS
from samplenas.spaces import SPACES
from samplenas.training.choices import DATASETS


class RenamedFlag(argparse.Action):
    """A flag that was renamed: giving it is a one-line command-line error naming the new flag (`const`)."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is now {self.const}")


LOADER_WORKERS_RENAMED = "--loader-workers (data loader processes; --workers names Ray workers in evolve, pbt, dnc)"


def add_renamed_workers(parser) -> None:
    """`--workers` of train and retrain became `--loader-workers`: one meaning per flag name."""
    parser.add_argument("--workers", action=RenamedFlag, dest=argparse.SUPPRESS, help=argparse.SUPPRESS,
                        const=LOADER_WORKERS_RENAMED)


def spaces_text() -> str:
    return ", ".join(SPACES.names())


def samplers_text() -> str:
    return ", ".join(SAMPLERS.names())


def datasets_text() -> str:
    return f"{', '.join(DATASETS)} (digits is embedded; the others need --data-dir)"


def add_evaluation_options(parser) -> None:
    """--eval-examples / --bn-batches: score a trained run's architectures differently from how its
    training evaluated them (more validation images, more BN recalibration batches)."""
    parser.add_argument("--eval-examples", type=int,
                        help="validation images per scored architecture (default: the run's --eval-examples)")
    parser.add_argument("--bn-batches", type=int,
                        help="training batches for BN recalibration before each score (default: the run's)")


def evaluation_overrides(args) -> dict:
    return {"eval_examples": args.eval_examples, "bn_batches": args.bn_batches}


def output_folder(text: str) -> Path:
    """argparse type of a run folder (`--out`): an empty name would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder name, got {text!r}")
    return Path(text)
