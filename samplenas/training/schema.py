"""Versioned checkpoint schemas, checked before any tensor of a checkpoint is used.

A checkpoint is a nested dict (`torch.load(weights_only=True)`); a truncated, foreign or hand-edited
one used to fail deep inside `load_state_dict` with a KeyError or a size-mismatch traceback. Each
checkpoint kind declares its format name, version and the required keys with their types here, and
`check_checkpoint` reports the first deviation as one line (`UserError`) naming the key path.

Specs: a type or tuple of types (`int` never accepts a bool; `float` accepts an int), `Opt(spec)`
(None allowed), `ListOf(spec)`, `MapOf(spec)` (a dict with string keys, any number of them) and a
plain dict `{key: spec}` (these keys required, others allowed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from samplenas.errors import UserError
from samplenas.training.typed_config import MAX_SEED


@dataclass(frozen=True)
class Opt:
    spec: Any


@dataclass(frozen=True)
class IntRange:
    lo: int
    hi: int


@dataclass(frozen=True)
class ListOf:
    spec: Any


@dataclass(frozen=True)
class MapOf:
    spec: Any


@dataclass(frozen=True)
class CheckpointSchema:
    """`format` is stored as "<name>-<version>" (e.g. samplenas-retrain-1) at `format_key`."""

    name: str
    version: int
    what: str  # for messages: "a <what> checkpoint"
    fields: dict
    format_key: tuple[str, ...] = ("format",)

    @property
    def format(self) -> str:
        return f"{self.name}-{self.version}"


# What loading a schema-valid but inconsistent state raises (a tensor of the wrong size, an RNG state
# out of range, ...): loaders report these as one line ("does not match this run").
STATE_ERRORS = (KeyError, IndexError, RuntimeError, ValueError, TypeError, OverflowError, AttributeError)

TENSORS = MapOf(torch.Tensor)
NUMBER = (int, float)
SEED = IntRange(0, MAX_SEED)
STREAM = {"seed": SEED, "epoch": int, "position": int}

SUPERNET = CheckpointSchema("samplenas-supernet", 1, "supernet training", {
    "format": str, "config": dict, "step": int, "model": TENSORS, "optimizer": {"state": dict, "param_groups": list},
    "sampler": dict, "stream": STREAM, "val_stream": STREAM,
    "rng": {"python": list, "numpy": list, "torch": torch.Tensor, "cuda": list},
    "evaluations": ListOf(dict), "seconds": MapOf(NUMBER),
})

RETRAIN_META = {
    "format": str, "space": str, "arch": ListOf(int), "arch_text": str, "settings": dict, "ensemble": int,
    "patience": int, "total_steps": int, "data": str, "data_dir": Opt(str), "val_fraction": float, "seed": SEED,
    "limit": Opt(int), "recipe": {"network": dict, "augment": bool, "batch_size": int, "task": str},
}
MEMBER = {"model": TENSORS, "optimizer": {"state": dict, "param_groups": list}, "steps": int, "best_val": float,
          "bad_epochs": int, "stopped": bool, "best_state": Opt(TENSORS)}
RETRAIN = CheckpointSchema("samplenas-retrain", 1, "samplenas retrain", {
    "meta": RETRAIN_META, "step": int, "epoch": int, "epoch_step": int, "elapsed": NUMBER,
    "rng": ListOf({"cpu": torch.Tensor, "cuda": Opt(torch.Tensor)}), "members": ListOf(MEMBER),
}, format_key=("meta", "format"))


def check_checkpoint(state: Any, schema: CheckpointSchema, source: str) -> dict:
    """`state` if it follows `schema`; otherwise UserError naming `source` and the first bad key."""
    if not isinstance(state, dict):
        raise UserError(f"{source} does not hold a state dictionary")
    found: Any = state
    for key in schema.format_key:
        found = found.get(key) if isinstance(found, dict) else None
    if found != schema.format:
        if isinstance(found, str) and found.startswith(schema.name + "-"):
            raise UserError(f"{source} has format {found!r}; this version of samplenas reads {schema.format!r}")
        raise UserError(f"{source} is not a {schema.what} checkpoint (format {found!r})")
    problem = _problem(state, schema.fields, "")
    if problem:
        raise UserError(f"{source} is damaged or from another tool: {problem}")
    return state


def _name(spec) -> str:
    if isinstance(spec, tuple):
        return " or ".join(_name(s) for s in spec)
    if isinstance(spec, Opt):
        return f"{_name(spec.spec)} or null"
    if isinstance(spec, ListOf):
        return "a list"
    if isinstance(spec, IntRange):
        return f"an integer in {spec.lo}..{spec.hi}"
    if isinstance(spec, (MapOf, dict)):
        return "a dictionary"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "a list",
            dict: "a dictionary", torch.Tensor: "a tensor"}.get(spec, spec.__name__)


def _is(value, kind) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _problem(value, spec, path: str) -> str | None:
    """A description of the first place where `value` breaks `spec`, or None."""
    where = path or "the top level"
    if isinstance(spec, Opt):
        return None if value is None else _problem(value, spec.spec, path)
    if isinstance(spec, IntRange):
        ok = _is(value, int) and spec.lo <= value <= spec.hi
        return None if ok else f"{where} should be {_name(spec)}, got {value!r}"[:200]
    if isinstance(spec, tuple):
        ok = any(_problem(value, s, path) is None for s in spec)
        return None if ok else f"{where} should be {_name(spec)}, got {type(value).__name__}"
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{where} should be a dictionary, got {type(value).__name__}"
        for key, sub in spec.items():
            if key not in value:
                return f"missing key {path + '.' if path else ''}{key}"
            problem = _problem(value[key], sub, f"{path + '.' if path else ''}{key}")
            if problem:
                return problem
        return None
    if isinstance(spec, (ListOf, MapOf)):
        container = list if isinstance(spec, ListOf) else dict
        if not isinstance(value, container):
            return f"{where} should be {_name(spec)}, got {type(value).__name__}"
        items = enumerate(value) if container is list else value.items()
        for key, item in items:
            if container is dict and not isinstance(key, str):
                return f"{where} has a non-string key {key!r}"
            problem = _problem(item, spec.spec, f"{path}[{key!r}]" if container is dict else f"{path}[{key}]")
            if problem:
                return problem
        return None
    if not _is(value, spec):
        return f"{where} should be {_name(spec)}, got {type(value).__name__}"
    if spec in (int, float) and isinstance(value, float) and math.isnan(value):
        return f"{where} is NaN"
    if spec is int and value < 0:
        return f"{where} should be >= 0, got {value}"
    return None
