"""One check of every parsed flag before a command starts any work.

Rules are keyed by the argparse destination. A flag that sets a field of the command's settings
dataclass (SETTINGS: TrainConfig, RetrainJob, EvolveJob, PBTJob, DncSettings, Recipe) takes that
field's bounds, the same ones the dataclass checks when it is built from a config file; the few
flags no dataclass holds have theirs in COMMAND_LINE_ONLY; any other number must be >= 0. Every float
must be finite, counts and sizes have their upper bounds (`typed_config.MAXIMUM`), seeds fit the
32-bit range every RNG accepts, devices are cpu/cuda[:N], and an output folder must not be an
existing file. `check_args` raises UserError
naming the flag; `samplenas.cli.main` calls it right after parsing.
"""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path

from samplenas.errors import UserError
from samplenas.training.typed_config import DEVICE, LOG10_RANGE, MAX_SEED, Bound, check_bounds, field_bounds

# The settings dataclasses a command's flags fill in: their field bounds (typed_config.bounded) are the
# rules for the flags of the same name, so a range is written once, on the field. Imported only for
# the command being run (the population jobs import torch and Ray).
RECIPE = "samplenas.training.recipes:Recipe"
SETTINGS = {
    "train": ("samplenas.training.train_config:TrainConfig", RECIPE),
    "retrain": ("samplenas.training.retrainer:RetrainJob", RECIPE),
    "evolve": ("samplenas.population.evolve_job:EvolveJob", RECIPE),
    "pbt": ("samplenas.population.pbt:PBTJob", RECIPE),
    "dnc": ("samplenas.population.dnc_settings:DncSettings",),
}
AT_LEAST_1, AT_LEAST_0 = Bound(low=1), Bound(low=0)
# Flags that no settings dataclass holds (commands that pass them as arguments: search, rank, nb101
# study, spaces, quickstart; and a few flags whose field has another name, e.g. retrain --steps).
COMMAND_LINE_ONLY = {
    **dict.fromkeys(("epochs", "steps", "budget", "seeds", "trials", "batch", "n", "population",
                     "top", "max_params", "max_macs", "eval_examples", "tournament_size", "children", "stop_after",
                     "workers", "image_size", "standalone_steps", "standalone_downscale"),
                    AT_LEAST_1),
    "queries": AT_LEAST_1,
    # search --generations 0: the initial population alone (random search over the sampler's draws)
    **dict.fromkeys(("warmup", "sample", "bn_batches", "member", "noise", "point", "generations"), AT_LEAST_0),
    **dict.fromkeys(("cost_ref", "timeout", "max_latency_ms"), Bound(low=0, low_open=True)),
    "seed": Bound(low=0, high=MAX_SEED),
    "crossover_prob": Bound(low=0, high=1),
    "cost_weight": AT_LEAST_0,
}
OUTPUT_FOLDERS = ("out",)
FILE_OUTPUT_COMMANDS = frozenset({"export"})  # their --out is a file (checked by the command itself)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_value(name: str, value, out_is_folder: bool = True, bounds: dict[str, Bound] | None = None) -> None:
    """UserError if flag `name` cannot take `value` (None: not given); `bounds` are the command's field bounds."""
    bounds = bounds or {}
    if value is None or isinstance(value, bool):
        return
    flag = _flag(name)
    if isinstance(value, list):  # nargs flags (e.g. dnc --layers LOW HIGH): every item by the flag's rules
        for item in value:
            check_value(name, item, out_is_folder, bounds)
        return
    check_bounds(name, value, flag)
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{flag} must be a finite number, got {value}")
    if isinstance(value, int | float):
        problem = bounds.get(name, COMMAND_LINE_ONLY.get(name, AT_LEAST_0)).problem(value)
        if name not in LOG10_RANGE and problem:  # log10 bounds are signed (checked above)
            raise UserError(f"{flag} {problem}")
    if name == "device" and isinstance(value, str) and not DEVICE.fullmatch(value):
        raise UserError(f"{flag} must be cpu, cuda or cuda:N, got {value!r}")
    folder = out_is_folder and name in OUTPUT_FOLDERS and isinstance(value, str | Path)
    if folder:
        from samplenas.training.rundir import check_path_names

        check_path_names(value, flag)
        try:
            is_file = Path(value).exists() and not Path(value).is_dir()
        except OSError as err:  # e.g. a loop of symbolic links
            raise UserError(f"{flag} {value}: {err.strerror}") from None
        if is_file:
            raise UserError(f"{flag} {value} is a file, not a directory")
    if name == "ks":
        parse_counts(value, flag)


def parse_counts(text: str, flag: str) -> list[int]:
    """Comma-separated positive ASCII integers, e.g. --ks 10,50,100."""
    parts = [part.strip() for part in str(text).split(",")]
    if not parts or not all(re.fullmatch(r"[0-9]+", part, re.ASCII) and int(part) > 0 for part in parts):
        raise UserError(f"{flag} must be comma-separated positive integers, got {text!r}")
    return sorted({int(part) for part in parts})


def command_bounds(command: str | None) -> dict[str, Bound]:
    """Flag name -> Bound from the settings dataclasses of `command` (see SETTINGS)."""
    classes = []
    for path in SETTINGS.get(command, ()):
        module, _, name = path.partition(":")
        classes.append(getattr(importlib.import_module(module), name))
    return field_bounds(*classes)


def check_args(args) -> None:
    """Every flag of a parsed command line (see the module docstring)."""
    command = getattr(args, "command", None)
    out_is_folder = command not in FILE_OUTPUT_COMMANDS
    bounds = command_bounds(command)
    for name, value in sorted(vars(args).items()):
        if not callable(value):
            check_value(name, value, out_is_folder, bounds)
