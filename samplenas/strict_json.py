"""Strict JSON for every file and line samplenas writes: JSON has no NaN or Infinity, and Python's
`json` would write them as bare tokens that other readers reject. A missing or diverged number
(a NaN loss, an unknown table metric) is written as null instead.

One helper for every writer (result files, checkpoints' JSON side files, population logs, the CLI's
`--json` output). Light on purpose (no torch, no numpy), so the CLI can use it anywhere.
"""

from __future__ import annotations

import json
import math


def strict(value):
    """A copy that `json.dumps(..., allow_nan=False)` accepts: non-finite floats (numpy's float64 included)
    become None, tuples become lists, dict keys become strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def dumps(value, **kwargs) -> str:
    """`json.dumps` of `strict(value)` with `allow_nan=False`, so no NaN/Infinity token can slip through."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)
