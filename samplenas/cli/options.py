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


def add_ensemble_option(parser) -> None:
    """--ensemble: other runs trained like --run (other seeds), scored with it as one supernet."""
    parser.add_argument("--ensemble", nargs="+", type=Path, default=[], metavar="RUN",
                        help="other runs trained like --run (same space, network, data and scoring; other seeds): "
                             "each architecture's supernet metrics are the mean over --run and these. On NB101 four "
                             "supernets trained a quarter as long rank cells better than one (same cost). A run of "
                             "`train --members K` is scored as its members without this option")


def evaluation_overrides(args) -> dict:
    return {"eval_examples": args.eval_examples, "bn_batches": args.bn_batches}


def output_folder(text: str) -> Path:
    """argparse type of a run folder (`--out`): an empty name would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder name, got {text!r}")
    return Path(text)


def add_ray_options(parser, kind: str) -> None:
    """The options every population search (`evolve`, `pbt`, `dnc`) takes, defined once: where its Ray
    tasks run, how each is limited and retried, and what happens to a run of `kind` already in --out."""
    from samplenas.cli.threads import add_threads_option

    parser.add_argument("--address", help="join a running Ray cluster: auto or HOST:PORT of its head")
    parser.add_argument("--workers", type=int, help="local Ray with this many worker CPUs (default: all cores)")
    add_threads_option(parser, per_worker=True)
    parser.add_argument("--gpus-per-candidate", type=float, default=0.0,
                        help="GPUs per task; above 0 each task trains on its GPU (0 = CPU)")
    parser.add_argument("--timeout", type=float,
                        help="seconds an evaluation may run before it is cancelled and retried")
    parser.add_argument("--max-retries", type=int, default=3,
                        help="retries of an evaluation whose worker or node died or that timed out (default 3)")
    parser.add_argument("--resume", action="store_true", help=f"continue the {kind} run in --out exactly")
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace the {kind} run in --out (removed once every input was checked; a run of "
                             "another command is never replaced)")


def ray_settings(args):
    """`population.driver.RaySettings` of the options `add_ray_options` added."""
    from samplenas.population.driver import RaySettings

    return RaySettings(address=args.address, workers=args.workers, threads_per_worker=args.threads_per_worker,
                       gpus_per_candidate=args.gpus_per_candidate, timeout=args.timeout,
                       max_retries=args.max_retries)
