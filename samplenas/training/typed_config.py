"""Typed parsing of user JSON (config files, `--network`, `--sampler-options`, saved run configs).

JSON is read strictly: UTF-8 only, no NaN/Infinity tokens, at most `MAX_DEPTH` levels of nesting.
Values are then checked against the annotations of the dataclass (or function) they configure:
`int` accepts only whole JSON numbers (not "3", 2.5 or true), `float` any finite number, `str`,
`bool`, `dict`, `list` only themselves, `X | None` also null. Unknown keys are named with the valid
ones. Every failure is one `UserError` line naming the source and the key.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
import types
import typing
from pathlib import Path
from typing import Any

from samplenas.errors import UserError

MAX_DEPTH = 16
MAX_LR = 1e30  # larger learning rates overflow float32 optimiser arithmetic (a RuntimeError in torch.optim)
MAX_SEED = 2**32 - 1  # the largest seed every RNG here accepts (NumPy's legacy state, torch)
DEVICE = re.compile(r"cpu|cuda(:[0-9]+)?", re.ASCII)  # the device names the trainers accept
# Upper bounds of counts and sizes, by setting (= flag destination) name: larger values name work no
# machine can finish, or resources that Ray or torch reject deep inside a run (issue 25). The CLI checks
# every flag against them (samplenas.cli.validate), DnC settings from a --config file too.
MAXIMUM = {
    "population": 100_000, "generations": 100_000, "epochs": 100_000, "epochs_per_candidate": 100_000,
    "final_epochs": 100_000, "step_epochs": 100_000, "samples": 1_000_000, "top": 100_000,
    "workers": 4096, "loader_workers": 4096, "threads_per_worker": 1024, "gpus_per_candidate": 1024,
    "max_retries": 1000,
    "reductions": 16, "max_layers": 1024, "layers": 1024, "widths": 1_000_000, "batch": 2**24,
    "evaluations": 1_000_000, "initial": 1_000_000, "pool": 10_000_000, "parallel": 4096,
    "max_channels": 1_000_000, "preset_batch": 2**24, "reference_batches": 1_000_000,
}
# log10 ranges (DnC stage 3): 10**30 is the largest learning rate any optimiser here survives (MAX_LR)
LOG10_RANGE = {"lr_log10": (-30.0, 30.0), "wd_log10": (-30.0, 30.0)}


@dataclasses.dataclass(frozen=True)
class Bound:
    """The range of one numeric setting: at least `low` (above it when `low_open`), at most `high`
    (below it when `high_open`); None leaves that side open. Declared once, on the dataclass field
    (`bounded`), and checked by `check_fields` there and by the CLI for the flag of the same name."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def problem(self, value) -> str | None:
        """Why `value` is outside, as the end of a sentence ("must be at least 1, got 0"), or None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if not (below or above):
            return None
        if self.low is not None and self.high is not None and abs(self.high) < 1e16:  # a range, e.g. [0, 1)
            return (f"must be in {'(' if self.low_open else '['}{_number(self.low)}, {_number(self.high)}"
                    f"{')' if self.high_open else ']'}, got {_short(value)}")
        if below:
            if self.low_open:
                return f"must be {'positive' if self.low == 0 else f'> {_number(self.low)}'}, got {_short(value)}"
            return f"must be {'>= 0' if self.low == 0 else f'at least {_number(self.low)}'}, got {_short(value)}"
        return f"must be {'below' if self.high_open else 'at most'} {_number(self.high)}, got {_short(value)}"


def _number(bound: float) -> str:
    """A bound as people write it: 4294967295 and 1 in full, 1e+30 and 0.5 as %g does."""
    return str(int(bound)) if float(bound).is_integer() and abs(bound) < 1e16 else f"{bound:g}"


def bounded(default=dataclasses.MISSING, *, ge=None, gt=None, le=None, lt=None, default_factory=dataclasses.MISSING):
    """A dataclass field whose value must lie in the given range (ge/gt: lower bound, le/lt: upper)."""
    bound = Bound(low=gt if gt is not None else ge, high=lt if lt is not None else le,
                  low_open=gt is not None, high_open=lt is not None)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"bound": bound})


def field_bounds(*classes) -> dict[str, Bound]:
    """Setting name -> Bound over the fields of `classes`; a name bounded differently in two is a bug."""
    found: dict[str, Bound] = {}
    for cls in classes:
        for item in dataclasses.fields(cls):
            bound = item.metadata.get("bound")
            if bound is None:
                continue
            if found.setdefault(item.name, bound) != bound:
                raise AssertionError(f"{item.name} is bounded as {found[item.name]} and as {bound} ({cls.__name__})")
    return found


def check_fields(settings, what: str = "", flags: bool = False) -> None:
    """UserError for the first bounded field of dataclass instance `settings` outside its range (None is
    "not given"). Named `what: name` or, with `flags`, as the command-line flag `--name`."""
    for item in dataclasses.fields(settings):
        bound = item.metadata.get("bound")
        value = getattr(settings, item.name)
        problem = bound.problem(value) if bound is not None and value is not None else None
        if problem:
            name = "--" + item.name.replace("_", "-") if flags else item.name
            raise UserError(f"{what}: {name} {problem}" if what else f"{name} {problem}")


def check_bounds(name: str, value, where: str) -> None:
    """UserError if setting `name` (a number or a list of numbers) is beyond MAXIMUM / LOG10_RANGE."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise UserError(f"{where} must be a finite number, got {item}")
        if name in MAXIMUM and item > MAXIMUM[name]:
            raise UserError(f"{where} must be at most {MAXIMUM[name]}, got {_short(item)}")
        if name in LOG10_RANGE and not LOG10_RANGE[name][0] <= item <= LOG10_RANGE[name][1]:
            low, high = LOG10_RANGE[name]
            raise UserError(f"{where} must be in [{low:g}, {high:g}], got {_short(item)}")


def _no_constant(token: str):
    raise ValueError(f"{token} is not allowed (JSON has no NaN or infinity)")


def loads(text: str | bytes, what: str) -> Any:
    """Strict JSON from a string or bytes (`what` names the source in errors)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UserError(f"{what}: not UTF-8 text (byte {err.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise UserError(f"{what}: JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:  # JSONDecodeError is a ValueError
        raise UserError(f"{what}: not valid JSON ({str(err).splitlines()[0]})") from None
    if _depth(value) > MAX_DEPTH:
        raise UserError(f"{what}: JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_object(path: str | Path, what: str = "config") -> dict:
    """A JSON object from the file `path` (strict, see `loads`)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{what} {path}: cannot be read ({err.strerror})") from None
    return loads_object(data, f"{what} {path}")


def loads_object(text: str | bytes, what: str) -> dict:
    """A JSON object from a string or bytes (strict, see `loads`): a flag's value or a file's contents."""
    return expect_object(loads(text, what), what)


def expect_object(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise UserError(f"{what}: expected a JSON object, got {_json_name(value)}")
    return value


def _json_name(value) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def check_value(value, annotation, where: str):
    """`value` converted to `annotation` (int -> float only); UserError if it does not fit."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return check_value(value, option, where)
            except UserError as err:
                errors.append(err)
        raise errors[0]
    kind = origin or annotation
    if kind is Any or kind is inspect.Parameter.empty:
        return value
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise UserError(f"{where} must be a finite number, got {value}")
            return float(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind in (str, bool, dict, list, tuple):
        if isinstance(value, list if kind is tuple else kind) and not (kind is not bool and isinstance(value, bool)):
            return value
    else:
        return value  # a type this layer does not know: left to the code that uses it
    expected = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object",
                list: "a list", tuple: "a list"}[kind]
    shown = "" if value is None or isinstance(value, bool) else " " + _short(value)
    raise UserError(f"{where} must be {expected}, got {_json_name(value)}{shown}")


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def build(cls, values: dict, what: str, partial: bool = False) -> dict:
    """`values` checked against the fields of dataclass `cls`: unknown keys named, types checked.

    Returns the converted values (`cls(**result)` then cannot fail on types). `partial`: fields may
    be missing and None means "not given" (flag layers).
    """
    expect_object(values, what)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserError(f"{what}: unknown setting(s) {', '.join(map(str, unknown))}; "
                        f"valid: {', '.join(sorted(fields))}")
    result = {}
    for name, value in values.items():
        if partial and value is None:
            result[name] = None
            continue
        result[name] = check_value(value, hints[name], f"{what}: {name}")
    if not partial:
        missing = [name for name, f in fields.items() if name not in values
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise UserError(f"{what}: missing setting {missing[0]!r}")
    return result


def check_options(function, options: dict, what: str) -> dict:
    """Keyword `options` for `function` (e.g. a sampler class): unknown names and annotated types checked."""
    expect_object(options, what)
    signature = inspect.signature(function)
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    try:
        hints = typing.get_type_hints(function.__init__ if inspect.isclass(function) else function)
    except Exception:  # unresolvable annotations: check names only
        hints = {}
    settable = [name for name, p in params.items()
                if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    result = {}
    for name, value in options.items():
        if name not in params or params[name].kind is inspect.Parameter.VAR_KEYWORD:
            if not takes_any:
                raise UserError(f"{what}: unknown option {name!r}; valid: {', '.join(settable) or 'none'}")
            result[name] = value
            continue
        result[name] = check_value(value, hints.get(name, Any), f"{what}: {name}")
    return result
