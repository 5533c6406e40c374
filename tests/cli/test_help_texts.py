"""Every option of every command explains itself, and the names a user must pick from are listed."""

from __future__ import annotations

import argparse

import pytest

from samplenas.cli import COMMAND_MODULES, build_parser, main, walk
from samplenas.samplers import SAMPLERS
from samplenas.spaces import SPACES
from samplenas.training.choices import DATASETS

PARSERS = list(walk(build_parser()))
IDS = [" ".join(words) or "samplenas" for words, _ in PARSERS]
# options whose value is a registered name: every name must appear in the help (or the choices)
NAMED_VALUES = {"space": SPACES.names, "sampler": SAMPLERS.names, "samplers": SAMPLERS.names,
                "data": lambda: list(DATASETS)}


def options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and a.help != argparse.SUPPRESS]


@pytest.mark.parametrize(("words", "parser"), PARSERS, ids=IDS)
def test_every_option_says_what_it_does(words, parser):
    for action in options(parser):
        text = (action.help or "").strip()
        name = (action.option_strings or [action.dest])[-1]
        assert text, f"samplenas {' '.join(words)} {name} has no help"
        assert text.lower() != action.dest.replace("_", " "), f"samplenas {' '.join(words)} {name}: help is its name"


@pytest.mark.parametrize(("words", "parser"), PARSERS, ids=IDS)
def test_every_subcommand_has_a_help_line(words, parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert (choice.help or "").strip(), f"samplenas {' '.join(words)} {choice.dest} has no help line"


@pytest.mark.parametrize(("words", "parser"), PARSERS, ids=IDS)
def test_space_sampler_and_data_options_list_the_registered_names(words, parser):
    for action in options(parser):
        if action.dest not in NAMED_VALUES:
            continue
        listed = f"{action.help} {' '.join(action.choices or ())}"
        missing = [name for name in NAMED_VALUES[action.dest]() if name not in listed]
        assert not missing, f"samplenas {' '.join(words)} {action.option_strings[0]} does not list {missing}"


def test_the_name_check_covers_the_main_commands():
    checked = {(words, a.dest) for words, parser in PARSERS for a in options(parser) if a.dest in NAMED_VALUES}
    assert {(("train",), "space"), (("train",), "sampler"), (("train",), "data"), (("retrain",), "data")} <= checked


def test_top_level_help_speaks_to_users(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "neural architecture search" in text
    for line in ("samplenas quickstart", "samplenas train --space", "samplenas search --run", "samplenas retrain"):
        assert line in text  # the main workflows, as commands to copy
    for module in COMMAND_MODULES:
        assert f"    {module.replace('_', '-')}" in text  # a module fit_scorer holds the command fit-scorer


def test_a_missing_required_setting_names_its_flag(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "run"), "--sampler", "uniform"]) == 2
    assert "--space is required" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "run"), "--space", "nb101"]) == 2
    assert "--sampler is required" in capsys.readouterr().err
