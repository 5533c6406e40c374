"""`samplenas <command>`: parses, calls the library, prints. Each command group is one module here
with a `register(subparsers)` that sets `func(args) -> int` on its parsers."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator

import samplenas.population  # noqa: F401  (registers the "dnc" networks that retrain, evaluate, export build)
from samplenas.cli.threads import apply_threads
from samplenas.cli.validate import check_args
from samplenas.errors import InvalidArchitecture, UserError
from samplenas.registry import UnknownName

COMMAND_MODULES = (
    "quickstart",
    "spaces",
    "train",
    "search",
    "rank",
    "fit_scorer",
    "retrain",
    "evaluate",
    "export",
    "nb101",
    "pbt",
    "dnc",
    "evolve",
    "latency",
)

# Errors that are the user's to fix: reported as one line, exit status 2.
USER_ERRORS = (UserError, InvalidArchitecture, UnknownName, FileNotFoundError, NotADirectoryError,
               IsADirectoryError, PermissionError)


DESCRIPTION = """\
samplenas: neural architecture search with weight-sharing supernets and learned samplers.

Train one supernet that holds every network of a search space while a sampler (uniform, fair,
Gumbel, LSTM-VAE, evolution, ...) chooses the paths it trains; search the trained supernet for the
best architectures; retrain the winner from scratch with its space's published recipe and export
it. Population searches (PBT-NAS, Deep-n-Cheap, evolution) train candidates on a Ray cluster, and
the NAS-Bench-101 commands study samplers on the tabular benchmark without any training."""

EPILOG = """\
main workflows:
  a first run, a few CPU minutes on the embedded digits:
    samplenas quickstart
  supernet search, stage by stage:
    samplenas spaces                                # search spaces, their choices and sizes
    samplenas train --space nb101 --sampler vae --data cifar10 --data-dir DATA --out runs/a
    samplenas search --run runs/a                   # writes runs/a/top.json
    samplenas retrain --from runs/a/top.json --data cifar10 --data-dir DATA --out runs/a/retrain
    samplenas export --from runs/a/retrain --format onnx --out winner.onnx
  NAS-Bench-101 without training:
    samplenas nb101 convert nasbench_only108.tfrecord -o nb101.h5
    samplenas nb101 study --table nb101.h5 --protocol search

`samplenas COMMAND --help` explains a command and every option."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: a bad command line is one line on stderr
    (`samplenas COMMAND: error: ...`) and exit status 2; the usage block stays in `--help`. Every
    sub-command parser is of this class (`add_subparsers` hands its class down), so train, retrain,
    evolve, pbt, dnc, ... all report argument errors the same way."""

    def error(self, message: str):
        first = message.splitlines()[0] if message else "invalid arguments"
        self.exit(2, f"{self.prog}: error: {first} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse, but unknown arguments are reported by the (sub-)command that was given them."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self._command(parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _command(self, parsed) -> argparse.ArgumentParser:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                child = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(child, OneLineParser):
                    return child._command(parsed)
        return self


def package_version() -> str:
    """The installed distribution's version (what pip reports), else the source tree's `__version__`."""
    import importlib.metadata  # ~0.1 s of scanning the installed packages: only when asked

    try:
        return importlib.metadata.version("samplenas")
    except importlib.metadata.PackageNotFoundError:
        from samplenas import __version__

        return __version__


class VersionAction(argparse.Action):
    """`--version`: prints `samplenas X.Y.Z` and exits 0 (the version is looked up only then)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"samplenas {package_version()}")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="samplenas", description=DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=VersionAction, help="print the installed version and exit")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"samplenas.cli.{name}").register(subparsers)
    return parser


def walk(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser under `parser` (itself first) with the command words that reach it, e.g.
    (("nb101", "study"), parser): what the tests walk to keep every `--help` fast and complete."""
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*words, name))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # a bare `samplenas`: what it can do, not an error
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help exits 0 (kept); a bad command line was reported in one line
        if stop.code == 2:
            return 2
        raise
    try:
        check_args(args)  # every flag checked before any work (samplenas.cli.validate)
        apply_threads(args)  # torch's CPU threads, for commands with --threads (samplenas.cli.threads)
        return int(args.func(args) or 0)
    except USER_ERRORS as err:  # named by the command that failed, as argparse names it for a bad flag
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"{parser._command(args).prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("samplenas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
