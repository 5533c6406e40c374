"""Fuzz (issue 25): `evolve`, `pbt` and `dnc --resume` on damaged run folders, and fresh runs on odd
output paths. The population commands' Ray start is stubbed (`stop_population_at_ray`), so an input
that passes validation ends there as "validated"; every example must end as one line, exit 2, no
traceback, and no file of the earlier run created, changed or removed (`refused`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
STATE = {"evolve": "state.json", "pbt": "pbt_state.json", "dnc": "state.json"}
KINDS = ("evolve", "pbt", "dnc")


def _resume(argv: dict, kind: str, out: Path) -> list:
    return [*argv[kind], "--out", str(out), "--resume"]


def _damage_json(value: dict, data, wrong_values) -> dict:
    """1-3 keys of the state or of one object inside it deleted or given a wrong value."""
    for _ in range(data.draw(st.integers(1, 3))):
        target = value
        nested = [k for k, v in target.items() if isinstance(v, dict) and v]
        listed = [k for k, v in target.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
        where = data.draw(st.sampled_from(["top", *(["nested"] if nested else []), *(["listed"] if listed else [])]))
        if where == "nested":
            target = target[data.draw(st.sampled_from(sorted(nested)))]
        elif where == "listed":
            items = target[data.draw(st.sampled_from(sorted(listed)))]
            target = items[data.draw(st.integers(0, len(items) - 1))]
        key = data.draw(st.sampled_from(sorted(target)))
        if data.draw(st.booleans()):
            del target[key]
        else:
            target[key] = data.draw(wrong_values)
    return value


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, **FUZZ)
@given(data=st.data())
def test_structurally_damaged_state(kind, tmp_path, population_files, population_argv, write_run,
                                    stop_population_at_ray, refused, wrong_values, data):
    files = population_files(kind)
    state = _damage_json(json.loads(files[STATE[kind]]), data, wrong_values)
    files[STATE[kind]] = json.dumps(state, allow_nan=True).encode()
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        out = write_run(Path(folder) / "run", files)
        refused(_resume(population_argv, kind, out), Path(folder))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=15, **FUZZ)
@given(data=st.data())
def test_byte_damaged_state_and_result(kind, tmp_path, population_files, population_argv, write_run,
                                       stop_population_at_ray, refused, byte_damage, data):
    files = population_files(kind)
    name = data.draw(st.sampled_from([STATE[kind], "result.json"]))
    files[name] = data.draw(byte_damage(files[name]))
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        out = write_run(Path(folder) / "run", files)
        refused(_resume(population_argv, kind, out), Path(folder))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=15, **FUZZ)
@given(data=st.data())
def test_damaged_log_lines(kind, tmp_path, population_files, population_argv, write_run, stop_population_at_ray,
                           refused, data):
    files = population_files(kind)
    lines = files["evaluations.jsonl"].splitlines(keepends=True)
    at = data.draw(st.integers(0, len(lines)))
    junk = data.draw(st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode),
                               st.sampled_from([b"{}", b"null", b'{"key": 1}', b"[", lines[0][:-5]])))
    lines.insert(at, junk.replace(b"\n", b" ") + (b"\n" if data.draw(st.booleans()) or at < len(lines) else b""))
    files["evaluations.jsonl"] = b"".join(lines)
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        out = write_run(Path(folder) / "run", files)
        refused(_resume(population_argv, kind, out), Path(folder))


NAMES = st.one_of(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"), max_size=300),
                  st.sampled_from(["", " ", ".", "..", "a/../..", "x" * 256, "run/" + "y" * 300]))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=15, **FUZZ)
@given(name=NAMES)
def test_odd_output_names_of_fresh_runs(kind, tmp_path, population_argv, stop_population_at_ray, refused, name):
    """A fresh run on any name: refused, or validated and stopped at the Ray start, nothing left."""
    argv = population_argv[kind] if kind != "dnc" else ["dnc", "--model", "mlp", "--epochs", "1", "--limit", "96",
                                                        "--quiet"]
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        root = Path(folder) / "root"
        root.mkdir()
        out = f"{root}/{name}" if name else ""
        refused([*argv, "--out", out], root)
