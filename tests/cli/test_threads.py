"""`--threads`: a share of the cores by default (1 on 2 cores), the user's OMP_NUM_THREADS honoured,
applied by `main` before the command runs, handed on by quickstart to its stages."""

from __future__ import annotations

import argparse

import pytest
import torch

import samplenas.cli as cli
from samplenas.cli import build_parser, walk
from samplenas.cli.quickstart import stage_commands
from samplenas.cli.threads import apply_threads, default_threads

TRAINING_COMMANDS = {("train",), ("retrain",), ("search",), ("quickstart",), ("rank",), ("evaluate",),
                     ("nb101", "study")}


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (3, 1), (4, 2), (8, 4), (64, 4)])
def test_default_is_a_share_of_the_cores(cores, expected):
    assert default_threads(environ={}, cores=cores) == expected


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (" 6 ", 6), ("0", 1), ("two", 1), ("", 1)])
def test_a_valid_omp_num_threads_is_the_default(value, expected):
    assert default_threads(environ={"OMP_NUM_THREADS": value}, cores=2) == expected


def test_every_training_command_has_the_option():
    with_option = {words for words, parser in walk(build_parser())
                   if any(a.dest == "threads" for a in parser._actions)}
    assert TRAINING_COMMANDS <= with_option
    evolve = dict(walk(build_parser())).get(("evolve",))
    if evolve is not None:  # population commands: threads per Ray worker
        assert any(a.dest == "threads_per_worker" for a in evolve._actions)


def test_apply_sets_torchs_threads_and_leaves_other_commands_alone():
    before = torch.get_num_threads()
    try:
        args = build_parser().parse_args(["train", "--out", "run", "--threads", "2"])
        assert apply_threads(args) == 2 and torch.get_num_threads() == 2
        torch.set_num_threads(1)
        args = build_parser().parse_args(["train", "--out", "run"])
        assert apply_threads(args) == default_threads() == args.threads == torch.get_num_threads()
        assert apply_threads(argparse.Namespace(command="spaces")) is None
    finally:
        torch.set_num_threads(before)


def test_main_applies_it_before_the_command(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(cli, "apply_threads", lambda args: seen.append(getattr(args, "threads", "absent")))
    monkeypatch.setattr(cli, "check_args", lambda args: None)
    cli.main(["evaluate", "--checkpoint", str(tmp_path / "missing"), "--threads", "3"])
    cli.main(["spaces", "nb101"])
    assert seen == [3, "absent"]


def test_zero_threads_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "--out", "run", "--threads", "0"])
    assert exit_info.value.code == 2 and "--threads" in capsys.readouterr().err


def test_quickstart_hands_its_threads_to_every_stage(tmp_path):
    args = argparse.Namespace(out=str(tmp_path), steps=10, epochs=1, seed=0, threads=2)
    for command in stage_commands(args):
        assert command[-2:] == ["--threads", "2"]
        build_parser().parse_args(command)  # still a valid command line
