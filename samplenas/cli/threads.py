"""`--threads N`: how many CPU threads torch uses in a command that trains or scores networks.

Why not torch's default (one thread per core): the networks here are small, so a second thread
buys little when the machine is idle, and when other work runs on the same cores the threads of
one process wait for each other at every operator and a run gets many times slower (measured by
tools/bench_threads.py; figures in README, "CPU threads"). The default is therefore a share of
the cores: 1 on a 2-core machine, half the cores up to 4 elsewhere. An explicit OMP_NUM_THREADS
in the environment is the user's choice and becomes the default instead.

Commands add the option with `add_threads_option(parser)`; `samplenas.cli.main` applies it (with
`apply_threads`) before the command runs, so no command can forget to.
"""

from __future__ import annotations

import argparse
import os

MAX_DEFAULT_THREADS = 4
MAX_THREADS = 1024  # far beyond any core count; huge counts crash the OpenMP runtime (issue 25)


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_threads(environ: dict[str, str] | None = None, cores: int | None = None) -> int:
    """OMP_NUM_THREADS when the user set it to a positive integer, else min(4, cores // 2), at least 1."""
    value = (os.environ if environ is None else environ).get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, min(MAX_DEFAULT_THREADS, (cores or available_cores()) // 2))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_THREADS} threads, got {text}")
    return value


def add_threads_option(parser: argparse.ArgumentParser, per_worker: bool = False) -> None:
    """`--threads N` for a command that computes in its own process; `per_worker=True` gives population
    commands `--threads-per-worker N` (default 1: their workers already fill the cores)."""
    if per_worker:
        parser.add_argument("--threads-per-worker", type=_positive_int, default=1, metavar="N",
                            help="CPU threads torch may use in each Ray worker (default: 1; the workers "
                                 "together already use every core)")
        return
    parser.add_argument(
        "--threads", type=_positive_int, metavar="N",
        help=f"CPU threads torch may use (default: OMP_NUM_THREADS if set, else min({MAX_DEFAULT_THREADS}, "
             f"cores/2), at least 1; here {default_threads()}); more threads rarely speed up small networks "
             "and slow every run down when other work shares the cores")


def apply_threads(args: argparse.Namespace) -> int | None:
    """Set torch's intra-op thread count from `args.threads` (or the default) for commands that have
    the option; returns the count, or None for commands without it (torch is not imported then)."""
    if not hasattr(args, "threads"):
        return None
    threads = args.threads or default_threads()
    args.threads = threads  # so a command that starts child processes can hand the same count on
    import torch

    torch.set_num_threads(threads)
    return threads
