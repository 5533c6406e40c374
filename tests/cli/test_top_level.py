"""`samplenas` itself: with no arguments it shows what it can do (exit 0), `--version` prints the
installed version."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

import samplenas
from samplenas.cli import main


def test_no_arguments_prints_the_help(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["samplenas"])
    assert main() == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: samplenas") and "main workflows:" in out and err == ""
    assert main([]) == 0 and capsys.readouterr().out == out


def test_a_missing_command_after_an_option_is_still_an_error(capsys):
    assert main(["--no-such-option"]) == 2
    assert capsys.readouterr().err.startswith("samplenas: error:")


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"samplenas {importlib.metadata.version('samplenas')}\n"


def test_version_without_an_installed_distribution_reads_the_source(capsys, monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"samplenas {samplenas.__version__}\n"


@pytest.mark.parametrize("argv, prefix", [
    (["spaces", "nb101", "--validate", "ops=nope edges=0-6"], "samplenas spaces: error: nb101:"),
    (["nb101", "stats", "--table", "/nonexistent/t.h5"], "samplenas nb101 stats: error: "),
])
def test_errors_after_parsing_name_the_command(argv, prefix, capsys):
    """As argparse's own errors do (`samplenas evolve: error: ...`), so a failing stage of the quick
    start or of a script says which command failed."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(prefix) and err.count("\n") == 1, err
