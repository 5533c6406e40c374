"""Fuzz: training and recipe configs (wrong types, unknown keys, bad bytes, deep nesting) and flag JSON.

The CLI runs are stopped right after every input was validated (the trainers' `train` is replaced by
one that reports "validated"), so each example costs a set-up, not a training run.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samplenas.errors import UserError
from samplenas.training import typed_config
from samplenas.training.recipes import Recipe, resolve_recipe
from samplenas.training.train_config import TrainConfig

FUZZ = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
NB101_CELL = "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6"
BASE = {"space": "nb101", "sampler": "uniform", "steps": 2, "batch_size": 8, "eval_every": 0, "limit": 32,
        "network": {"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}}
TRAIN_FIELDS = [f.name for f in dataclasses.fields(TrainConfig)] + ["colour"]
RECIPE_FIELDS = [f.name for f in dataclasses.fields(Recipe)] + ["colour"]


def corrupt(base: dict, fields: list[str], data, wrong_values) -> dict:
    config = dict(base)
    for name in data.draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique=True)):
        if data.draw(st.booleans()) and name in config:
            del config[name]
        else:
            config[name] = data.draw(wrong_values)
    return config


@pytest.fixture
def stop_after_validation(monkeypatch):
    from samplenas.training import retrainer, supernet_train

    def validated(*args, **kwargs):
        raise UserError("validated")

    monkeypatch.setattr(supernet_train.SupernetTrainer, "train", validated)
    monkeypatch.setattr(retrainer.Trainer, "train", validated)


@settings(max_examples=150, **FUZZ)
@given(data=st.data())
def test_train_settings_are_valid_or_one_user_error(data, wrong_values):
    config = corrupt(BASE, TRAIN_FIELDS, data, wrong_values)
    try:
        TrainConfig.from_dict(config).check()
    except UserError as err:
        assert "\n" not in str(err)


@settings(max_examples=150, **FUZZ)
@given(data=st.data(), space=st.sampled_from(["nb101", "nasnet", "shufflenet", "autoencoder"]))
def test_recipe_overrides_are_valid_or_one_user_error(data, wrong_values, space):
    override = corrupt({"epochs": 1}, RECIPE_FIELDS, data, wrong_values)
    try:
        resolve_recipe(space, override)
    except UserError as err:
        assert "\n" not in str(err)


@settings(max_examples=150, **FUZZ)
@given(text=st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode),
                      st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
                      st.integers(1, 100).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)))
def test_json_bytes_are_a_value_or_one_user_error(text):
    try:
        typed_config.loads(text, "config")
    except UserError as err:
        assert "\n" not in str(err)


@settings(max_examples=25, **FUZZ)
@given(data=st.data())
def test_train_cli_with_corrupt_config_files(tmp_path, contract, stop_after_validation, wrong_values, data):
    config = corrupt(BASE, TRAIN_FIELDS, data, wrong_values)
    raw = json.dumps(config).encode()
    if data.draw(st.booleans()):  # also damage the bytes
        raw = data.draw(st.binary(min_size=1, max_size=4)) + raw[data.draw(st.integers(0, len(raw))):]
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        (Path(folder) / "config.json").write_bytes(raw)
        contract(["train", "--config", Path(folder) / "config.json", "--out", Path(folder) / "run", "--quiet"],
                 Path(folder))


@settings(max_examples=25, **FUZZ)
@given(data=st.data())
def test_retrain_cli_with_corrupt_config_and_network(tmp_path, contract, stop_after_validation, wrong_values, data):
    config = corrupt({"epochs": 1, "batch_size": 8}, [n for n in RECIPE_FIELDS if n != "network"], data,
                     wrong_values)
    tiny = json.dumps(BASE["network"])  # valid configs then build a small network, not the published one
    network = data.draw(st.one_of(st.just(tiny), st.just(tiny), st.text(min_size=1, max_size=20)))
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        (Path(folder) / "config.json").write_text(json.dumps(config))
        contract(["retrain", "--space", "nb101", "--arch", NB101_CELL, "--config", Path(folder) / "config.json",
                  "--network", network, "--limit", "32", "--out", Path(folder) / "run", "--quiet"],
                 Path(folder))
