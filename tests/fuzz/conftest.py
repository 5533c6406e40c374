"""Shared pieces of the fuzz suite (issue 14): the CLI contract, damage strategies, small real inputs.

Every fuzz test runs a fixed number of derandomized examples (`settings(max_examples=N,
derandomize=True)` in each module), so CI runs the same cases every time and the count in
docs/reference/reliability.md is exact.
Strategies that need data (bytes to damage) are drawn inside the tests with `st.data()`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import strategies as st

from samplenas.cli import main

NB101_CELL = "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6"
NET = {"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}


# Values a hostile or careless user puts where something else belongs.
_WRONG = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                  st.text(max_size=8), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4),
                                                                                          st.integers(), max_size=2))


def _byte_damage(data: bytes):
    """A strategy of damaged copies of `data`: flipped bytes or a truncation."""
    flips = st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)), min_size=1, max_size=4)

    def flip(changes):
        out = bytearray(data)
        for at, mask in changes:
            out[at] ^= mask
        return bytes(out)

    return st.one_of(flips.map(flip), st.integers(0, len(data) - 1).map(lambda n: data[:n]))


def _contract(capsys, argv: list, root: Path, allow_success: bool) -> int:
    before = sorted(p for p in root.rglob("*"))
    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 or (allow_success and code == 0), (code, err)
    if code == 2:
        assert "Traceback" not in err and 0 < len(err.strip().splitlines()) <= 2, err
        assert sorted(p for p in root.rglob("*")) == before, err
    return code


@pytest.fixture(scope="session")
def wrong_values():
    """A strategy of JSON-ish values of every type (None, bools, huge ints, NaN, strings, lists, dicts)."""
    return _WRONG


@pytest.fixture(scope="session")
def byte_damage():
    """`byte_damage(data)`: a strategy of copies of `data` with 1-4 flipped bytes, or truncated."""
    return _byte_damage


@pytest.fixture
def contract(capsys):
    """`contract(argv, root, allow_success) -> exit code`: runs the CLI in-process; a failure must be
    exit 2 with one or two stderr lines, no traceback, and nothing new under `root`."""
    return lambda argv, root, allow_success=False: _contract(capsys, argv, root, allow_success)


@pytest.fixture(scope="session")
def retrain_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "retrain"
    assert main(["retrain", "--space", "nb101", "--arch", NB101_CELL, "--out", str(out), "--epochs", "1",
                 "--batch-size", "16", "--limit", "32", "--optimizer", "sgd", "--network", json.dumps(NET),
                 "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def supernet_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "supernet"
    assert main(["train", "--space", "nb101", "--sampler", "uniform", "--network", json.dumps(NET), "--steps", "1",
                 "--batch-size", "8", "--eval-every", "0", "--limit", "32", "--out", str(out), "--quiet"]) == 0
    return out
