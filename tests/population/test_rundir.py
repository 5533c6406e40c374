"""`population.rundir`: whose run a folder holds, strict reading of evaluations.jsonl, and a full
disk during a log write (one line, the log as it was)."""

from __future__ import annotations

import errno
import json

import pytest

from samplenas.errors import UserError
from samplenas.population import engine, rundir
from samplenas.population.engine import ResultsLog


def test_format_strings_match_the_writers():
    from samplenas.population import dnc, evolve, evolve_job, pbt
    from samplenas.training import retrainer, supernet_train

    for fmt, kind in ((evolve.STATE_FORMAT, "evolve"), (evolve.RECORDS_FORMAT, "evolve"),
                      (evolve_job.RESULT_FORMAT, "evolve"), (pbt.FORMAT, "pbt"),
                      (dnc.FORMAT, "dnc"), (retrainer.FORMAT, "retrain"), (supernet_train.FORMAT, "train")):
        assert rundir.FORMATS[fmt] == kind


def test_run_kind(tmp_path):
    assert rundir.run_kind(tmp_path) is None
    (tmp_path / "evaluations.jsonl").write_text(json.dumps({"key": "a", "round": 0, "slot": 1}) + "\n")
    assert rundir.run_kind(tmp_path) == ("pbt", "evaluations.jsonl")
    (tmp_path / "state.json").write_text("{broken")
    assert rundir.run_kind(tmp_path) == ("unknown", "state.json")


def test_read_log_names_the_damaged_line_and_drops_only_a_torn_last_one(tmp_path):
    path = tmp_path / "evaluations.jsonl"
    good = json.dumps({"key": "a", "fitness": 1.0, "metrics": {}}) + "\n"
    path.write_text(good + '{"key": "b", "fit')
    records, size = rundir.read_log(path)
    assert [r["key"] for r in records] == ["a"] and size == len(good)
    path.write_text(good + "garbage\n" + good.replace('"a"', '"c"'))
    with pytest.raises(UserError, match="line 2: not a JSON line"):
        rundir.read_log(path)
    path.write_text(good + good)
    with pytest.raises(UserError, match="line 2: key 'a' appears twice"):
        rundir.read_log(path)
    assert path.read_text() == good + good  # reading never changes the file


def test_a_full_disk_during_a_log_write_is_one_line_and_leaves_the_log_as_it_was(tmp_path, monkeypatch):
    log = ResultsLog(tmp_path / "evaluations.jsonl")
    assert log.append({"key": "a", "fitness": 1.0})
    before = log.path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine.os, "fsync", full)
    with pytest.raises(UserError, match="No space left on device; free some space and --resume") as err:
        log.append({"key": "b", "fitness": 2.0})
    assert "\n" not in str(err.value)
    assert log.path.read_bytes() == before and "b" not in log
