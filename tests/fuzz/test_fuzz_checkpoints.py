"""Fuzz: damaged retrain and supernet checkpoints through `samplenas evaluate` and `samplenas search --arch`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samplenas.training.checkpoint import load_checkpoint

FUZZ = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
NB101_CELL = "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6"


def key_paths(value, prefix=(), depth=0) -> list[tuple]:
    """Every key path into nested dicts and lists (not into tensors), up to depth 5."""
    if depth == 5 or not isinstance(value, dict | list):
        return []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    paths = []
    for key, child in items:
        paths.append((*prefix, key))
        paths.extend(key_paths(child, (*prefix, key), depth + 1))
    return paths


def damage(state: dict, path: tuple, remove: bool, value) -> None:
    parent = state
    for key in path[:-1]:
        parent = parent[key]
    if remove and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


def _structural(run: Path, data, wrong_values) -> dict:
    state = load_checkpoint(run / "checkpoint.pt")
    paths = key_paths(state)
    path = data.draw(st.sampled_from(paths))
    damage(state, path, data.draw(st.booleans()), data.draw(wrong_values))
    return state


@settings(max_examples=20, **FUZZ)
@given(data=st.data())
def test_byte_damaged_retrain_checkpoints(retrain_run, tmp_path, contract, byte_damage, data):
    damaged = data.draw(byte_damage((retrain_run / "checkpoint.pt").read_bytes()))
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        (Path(folder) / "checkpoint.pt").write_bytes(damaged)
        contract(["evaluate", "--checkpoint", Path(folder) / "checkpoint.pt"], Path(folder), allow_success=True)


@settings(max_examples=40, **FUZZ)
@given(data=st.data())
def test_removed_keys_and_wrong_types_in_retrain_checkpoints(retrain_run, tmp_path, contract, wrong_values, data):
    state = _structural(retrain_run, data, wrong_values)
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        torch.save(state, Path(folder) / "checkpoint.pt")
        contract(["evaluate", "--checkpoint", Path(folder) / "checkpoint.pt"], Path(folder), allow_success=True)


@settings(max_examples=20, **FUZZ)
@given(data=st.data())
def test_byte_damaged_supernet_checkpoints(supernet_run, tmp_path, contract, byte_damage, data):
    damaged = data.draw(byte_damage((supernet_run / "checkpoint.pt").read_bytes()))
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        run = Path(folder) / "run"
        shutil.copytree(supernet_run, run)
        (run / "checkpoint.pt").write_bytes(damaged)
        contract(["search", "--run", run, "--arch", NB101_CELL], Path(folder), allow_success=True)


@settings(max_examples=40, **FUZZ)
@given(data=st.data())
def test_removed_keys_and_wrong_types_in_supernet_checkpoints(supernet_run, tmp_path, contract, wrong_values, data):
    state = _structural(supernet_run, data, wrong_values)
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        run = Path(folder) / "run"
        shutil.copytree(supernet_run, run)
        torch.save(state, run / "checkpoint.pt")
        contract(["search", "--run", run, "--arch", NB101_CELL], Path(folder), allow_success=True)
