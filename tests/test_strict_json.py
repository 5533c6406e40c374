"""Strict JSON: no NaN/Infinity token ever reaches a file or the CLI's JSON output."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from samplenas.strict_json import dumps, strict
from samplenas.training.checkpoint import save_json


def strict_loads(text: str):
    """json.loads that fails on the NaN/Infinity tokens Python's json accepts by default."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_at_any_depth():
    value = {"loss": math.nan, 3: [1.5, math.inf, (-math.inf, np.float64("nan"))], "ok": np.float64(0.25),
             "name": "nan", "count": 7, "flag": True, "none": None}
    assert strict(value) == {"loss": None, "3": [1.5, None, [None, None]], "ok": 0.25, "name": "nan", "count": 7,
                             "flag": True, "none": None}
    assert strict_loads(dumps(value)) == strict(value)


def test_dumps_refuses_what_it_cannot_make_strict():
    with pytest.raises(TypeError):  # a float32 is not a float: it must be converted by its writer, not guessed
        dumps({"x": np.float32(1.0)})


def test_save_json_writes_null_for_nan(tmp_path):
    path = tmp_path / "result.json"
    save_json(path, {"test": {"loss": math.nan, "accuracy": 0.5}, "curve": [math.inf, 1.0]})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert strict_loads(text) == {"test": {"loss": None, "accuracy": 0.5}, "curve": [None, 1.0]}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # atomic: no temporary file left


def test_the_population_engine_uses_the_same_helper():
    from samplenas.population import engine

    assert engine.strict_json is strict
