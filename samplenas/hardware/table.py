"""The latency table file: versioned JSON, written atomically, schema-checked when read.

    {
      "format": "samplenas-latency-table", "version": 2,
      "space": "shufflenet", "network": {full supernet settings}, "batch_size": 1,
      "device": {"type": "cpu", "name": "...", "threads": 1, "torch": "2.5.1"},
      "protocol": {"warmup": 5, "repeats": 20, "rounds": 3, "statistic": "..."},
      "created": "2026-12-02T15:00:00+00:00",
      "blocks": {"layer0|shuffle_3x3|16x32x32": 0.21, ...},   # ms, one per block key
      "fixed": {"stem|stem|3x32x32": 0.05, ...},              # ms, parts every network runs
      "correction": {"scale": 1.21, "networks": 8, "measured_ms": [...], "sum_ms": [...]}
    }

A block key is `slot|choice|CxHxW` (see `samplenas.hardware.blocks.base.Block`). The prediction is
`scale * (sum of the blocks + sum of fixed)`.

Version 1 corrected with a line, `scale * sum + offset_ms`; version 2 keeps the scale alone (it
predicts held-out networks better). A version 1 file is refused with a line saying to measure it again:
its scale was fitted together with an offset and means nothing without it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from samplenas.errors import UserError
from samplenas.training.checkpoint import save_json

FORMAT = "samplenas-latency-table"
VERSION = 2
FIELDS = {
    "format": str, "version": int, "space": str, "network": dict, "batch_size": int, "device": dict,
    "protocol": dict, "created": str, "blocks": dict, "fixed": dict, "correction": dict,
}
DEVICE_FIELDS = {"type": str, "name": str, "threads": int}
CORRECTION_FIELDS = {"scale": float, "networks": int}


def write_table(path: str | os.PathLike, table: dict) -> Path:
    """Check `table` against the schema, then write it atomically (no half-written file on a crash)."""
    check_table(table, str(path))
    save_json(path, table)
    return Path(path)


def read_table(path: str | os.PathLike) -> dict:
    """The table in `path`; UserError (one line) if it is missing, not JSON, or not a latency table of this version."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"latency table {path} does not exist (make one with `samplenas latency`)")
    try:
        table = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"latency table {path} is not valid JSON ({err})") from None
    check_table(table, str(path))
    return table


def _check_fields(value: dict, fields: dict, where: str) -> None:
    for name, kind in fields.items():
        if name not in value:
            raise UserError(f"{where} has no {name!r} field")
        item = value[name]
        ok = isinstance(item, (int, float)) if kind is float else isinstance(item, kind)
        if not ok or (kind is not bool and isinstance(item, bool)):
            raise UserError(f"{where}: field {name!r} must be {kind.__name__}, got {type(item).__name__}")


def _check_times(values: dict, where: str) -> None:
    if not values:
        raise UserError(f"{where} is empty")
    for key, ms in values.items():
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms < 0:
            raise UserError(f"{where}: {key!r} must be a non-negative number of milliseconds, got {ms!r}")


def check_table(table, where: str = "latency table") -> None:
    """UserError naming the first thing that makes `table` not a latency table of this version."""
    if not isinstance(table, dict):
        raise UserError(f"{where} is not a JSON object")
    if table.get("format") != FORMAT:
        raise UserError(f"{where} is not a samplenas latency table (format {table.get('format')!r})")
    _check_fields(table, FIELDS, where)
    if table["version"] == 1:
        raise UserError(f"{where} has version 1, whose correction had an offset; this samplenas reads version "
                        f"{VERSION}: measure the table again with `samplenas latency measure`")
    if table["version"] != VERSION:
        raise UserError(f"{where} has version {table['version']}; this samplenas reads version {VERSION}")
    if table["batch_size"] < 1:
        raise UserError(f"{where}: batch_size must be at least 1, got {table['batch_size']}")
    _check_fields(table["device"], DEVICE_FIELDS, f"{where} device")
    _check_fields(table["correction"], CORRECTION_FIELDS, f"{where} correction")
    scale = table["correction"]["scale"]
    if not (math.isfinite(scale) and scale > 0):
        raise UserError(f"{where} correction needs a positive finite scale, got {scale}")
    _check_times(table["blocks"], f"{where} blocks")
    _check_times(table["fixed"], f"{where} fixed")
