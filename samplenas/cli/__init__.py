"""`samplenas <command>`: parses, calls the library, prints. Each command group is one module here
with a `register(subparsers)` that sets `func(args) -> int` on its parsers."""

from __future__ import annotations

import argparse
import importlib
import sys

from samplenas.errors import UserError
from samplenas.registry import UnknownName
from samplenas.spaces.base import InvalidArchitecture

COMMAND_MODULES = (
    "quickstart",
    "spaces",
    "train",
    "search",
    "rank",
    "retrain",
    "evaluate",
    "nb101",
)

# Errors that are the user's to fix: reported as one line, exit status 2.
USER_ERRORS = (UserError, InvalidArchitecture, UnknownName, FileNotFoundError, NotADirectoryError,
               IsADirectoryError, PermissionError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samplenas", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"samplenas.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"samplenas: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("samplenas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
