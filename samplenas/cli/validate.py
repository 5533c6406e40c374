"""One check of every parsed flag before a command starts any work.

Flags share names across commands (`--seed`, `--lr`, `--workers`, `--out`, ...), so the rules are
keyed by the argparse destination and apply wherever such a flag exists: every float must be finite,
counts and sizes have their lower bounds and upper bounds (`typed_config.MAXIMUM`), seeds fit the
32-bit range every RNG accepts, devices are
cpu/cuda[:N], and an output folder must not be an existing file. `check_args` raises UserError
naming the flag; `samplenas.cli.main` calls it right after parsing.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from samplenas.errors import UserError
from samplenas.training.typed_config import DEVICE, LOG10_RANGE, MAX_LR, MAX_SEED, check_bounds

POSITIVE = frozenset({
    "epochs", "steps", "batch_size", "budget", "seeds", "trials", "batch", "n", "population", "generations",
    "top", "ensemble", "max_params", "max_macs", "eval_archs", "eval_examples", "eval_batch_size",
    "checkpoint_every", "log_every", "tournament_size", "children", "stop_after", "limit", "image_size",
    "train_examples", "queries",
})
NON_NEGATIVE = frozenset({"point", "checkpoint_steps", "patience", "workers", "warmup", "sample", "eval_every",
                          "bn_batches", "cutout"})
POSITIVE_FLOAT = frozenset({"lr", "arch_lr", "cost_ref", "max_latency_ms"})
UNIT_INTERVAL = frozenset({"crossover_prob", "epsilon_inc"})  # [0, 1]
OPEN_UNIT = frozenset({"val_fraction"})  # (0, 1)
HALF_OPEN_UNIT = frozenset({"label_smoothing", "drop_path"})  # [0, 1)
OUTPUT_FOLDERS = ("out",)
FILE_OUTPUT_COMMANDS = frozenset({"export"})  # their --out is a file (checked by the command itself)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_value(name: str, value, out_is_folder: bool = True) -> None:
    """UserError if flag `name` cannot take `value` (None: not given)."""
    if value is None or isinstance(value, bool):
        return
    flag = _flag(name)
    if isinstance(value, list):  # nargs flags (e.g. dnc --layers LOW HIGH): every item by the flag's rules
        for item in value:
            check_value(name, item, out_is_folder)
        return
    check_bounds(name, value, flag)
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{flag} must be a finite number, got {value}")
    if isinstance(value, int | float):
        if name == "seed" and not 0 <= value <= MAX_SEED:
            raise UserError(f"{flag} must be in 0..{MAX_SEED}, got {value}")
        if name in POSITIVE and value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
        if name in POSITIVE_FLOAT and not 0 < value:
            raise UserError(f"{flag} must be positive, got {value}")
        if name in ("lr", "arch_lr") and value > MAX_LR:
            raise UserError(f"{flag} {value:g} is beyond any usable learning rate (at most {MAX_LR:g})")
        if name in UNIT_INTERVAL and not 0 <= value <= 1:
            raise UserError(f"{flag} must be in [0, 1], got {value}")
        if name in OPEN_UNIT and not 0 < value < 1:
            raise UserError(f"{flag} must be in (0, 1), got {value}")
        if name in HALF_OPEN_UNIT and not 0 <= value < 1:
            raise UserError(f"{flag} must be in [0, 1), got {value}")
        if value < 0 and name != "seed" and name not in LOG10_RANGE:  # log10 bounds are signed
            raise UserError(f"{flag} must be >= 0, got {value}")
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


def check_args(args) -> None:
    """Every flag of a parsed command line (see the module docstring)."""
    out_is_folder = getattr(args, "command", None) not in FILE_OUTPUT_COMMANDS
    for name, value in sorted(vars(args).items()):
        if not callable(value):
            check_value(name, value, out_is_folder)
