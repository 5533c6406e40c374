"""Setting ranges are declared once, on the dataclass fields, and the CLI checks flags by them."""

from __future__ import annotations

import dataclasses
import math

import pytest

from samplenas.cli.validate import SETTINGS, check_value, command_bounds
from samplenas.errors import UserError
from samplenas.population.dnc_settings import DncSettings
from samplenas.training.recipes import Recipe
from samplenas.training.train_config import TrainConfig
from samplenas.training.typed_config import MAX_LR, Bound, bounded, check_fields


@pytest.mark.parametrize("bound, inside, outside, message", [
    (Bound(low=1), [1, 2], [0, -1], "must be at least 1"),
    (Bound(low=0), [0, 3], [-1, -1e-9], "must be >= 0"),
    (Bound(low=0, low_open=True), [1e-300, 1], [0, -1.0], "must be positive"),
    (Bound(low=0, high=1, high_open=True), [0, 0.999], [1, -0.1], "must be in [0, 1)"),
    (Bound(low=0, high=1, low_open=True, high_open=True), [0.5], [0, 1], "must be in (0, 1)"),
    (Bound(low=0, high=2**32 - 1), [0, 2**32 - 1], [2**32, -1], "must be in [0, 4294967295]"),
])
def test_each_bound_is_exact_at_its_edges(bound, inside, outside, message):
    assert [bound.problem(value) for value in inside] == [None] * len(inside)
    for value in outside:
        assert bound.problem(value).startswith(message), bound.problem(value)


def test_check_fields_names_the_setting_or_the_flag():
    @dataclasses.dataclass
    class Job:
        steps: int = bounded(1, ge=1)
        limit: int | None = bounded(None, ge=1)  # None: not given

    check_fields(Job())
    with pytest.raises(UserError, match=r"^job: steps must be at least 1, got 0$"):
        check_fields(Job(steps=0), "job")
    with pytest.raises(UserError, match=r"^--limit must be at least 1, got 0$"):
        check_fields(Job(limit=0), flags=True)


@pytest.mark.parametrize("values, message", [
    ({"lr": 0.0}, "recipe: lr must be positive, got 0.0"),  # a zero learning rate trains nothing
    ({"lr": MAX_LR * 10}, "recipe: lr must be at most 1e+30"),
    ({"epochs": 0}, "recipe: epochs must be at least 1"),
    ({"label_smoothing": 1.0}, "recipe: label_smoothing must be in [0, 1)"),
    ({"grad_clip": -1.0}, "recipe: grad_clip must be >= 0"),
])
def test_recipe_bounds(values, message):
    with pytest.raises(UserError, match=re_escape(message)):
        Recipe(**values).check()
    Recipe(lr=1e-12, epochs=1, label_smoothing=0.0, grad_clip=0.0).check()  # the edges that are allowed


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize("name, value, message", [
    ("lr", 0.0, "lr must be positive"),
    ("arch_lr", 0.0, "arch_lr must be positive"),
    ("steps", 0, "steps must be at least 1"),
    ("eval_every", -1, "eval_every must be >= 0"),
    ("val_fraction", 1.0, "val_fraction must be in (0, 1)"),
    ("epsilon_inc", 1.5, "epsilon_inc must be in [0, 1]"),
    ("epsilon_ramp", 0.0, "epsilon_ramp must be in (0, 1]"),
    ("seed", -1, "seed must be in [0, 4294967295]"),
])
def test_train_config_bounds(name, value, message):
    config = TrainConfig(space="nb101", sampler="uniform", **{name: value})
    with pytest.raises(UserError, match=re_escape(message)):
        config.check()


def test_dnc_settings_bounds():
    with pytest.raises(UserError, match=re_escape("cost_weight must be >= 0")):
        DncSettings(cost_weight=-0.5).check()
    with pytest.raises(UserError, match=re_escape("initial must be in 1..evaluations (4)")):
        DncSettings(evaluations=4, initial=5).check()


@pytest.mark.parametrize("command", sorted(SETTINGS))
def test_every_command_reads_one_bound_per_flag_from_its_dataclasses(command):
    bounds = command_bounds(command)  # a name bounded differently in two of its dataclasses would raise
    assert bounds and all(isinstance(bound, Bound) for bound in bounds.values())


@pytest.mark.parametrize("command, name, good, bad, message", [
    ("train", "lr", 1e-9, 0.0, "--lr must be positive"),
    ("retrain", "stop_after", 1, 0, "--stop-after must be at least 1"),  # 0 would stop before any step
    ("retrain", "loader_workers", 0, -1, "--loader-workers must be >= 0"),
    ("train", "loader_workers", 0, -1, "--loader-workers must be >= 0"),
    ("dnc", "workers", 1, 0, "--workers must be at least 1"),  # Ray workers: the flag, not a field
    ("retrain", "val_fraction", 0.5, 0.0, "--val-fraction must be in (0, 1)"),
    ("dnc", "cost_weight", 0.0, -0.1, "--cost-weight must be >= 0"),
])
def test_the_cli_checks_flags_by_the_dataclass_bounds(command, name, good, bad, message):
    bounds = command_bounds(command)
    check_value(name, good, bounds=bounds)
    with pytest.raises(UserError, match=re_escape(message)):
        check_value(name, bad, bounds=bounds)
    assert not math.isnan(good)


def test_runs_saved_with_the_old_workers_name_still_load():
    config = TrainConfig.from_dict({"space": "nb101", "sampler": "uniform", "workers": 2})
    assert config.loader_workers == 2 and "workers" not in config.to_dict()
