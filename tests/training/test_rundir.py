"""Run directories: exclusive lock, stale locks, finished runs, stale temporaries, no partial output."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from samplenas.errors import UserError
from samplenas.training.rundir import LOCK, RunDir, check_run_dir

HOLD = """
import sys, time
from samplenas.training.rundir import RunDir
with RunDir(sys.argv[1]):
    print("LOCKED", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_while_the_first_holds_the_directory(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        with pytest.raises(UserError, match=rf"in use by process {holder.pid} .*wait for it"):
            RunDir(tmp_path / "run").acquire()
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the killed holder's lock: the stale lock file is taken over
    assert (tmp_path / "run" / LOCK).exists()
    with RunDir(tmp_path / "run"):
        assert str(os.getpid()) in (tmp_path / "run" / LOCK).read_text()
    assert not (tmp_path / "run" / LOCK).exists()


def test_in_process_double_entry_is_refused_and_release_is_clean(tmp_path):
    with RunDir(tmp_path / "run"):
        with pytest.raises(UserError, match="in use by"):
            RunDir(tmp_path / "run").acquire()
    assert not (tmp_path / "run").exists()  # created by us and left empty: removed


def test_finished_directory_needs_resume_or_overwrite(tmp_path):
    (tmp_path / "result.json").write_text("{}")
    with pytest.raises(UserError, match="already holds a run .*--resume .*--overwrite"):
        check_run_dir(tmp_path, ("result.json",))
    check_run_dir(tmp_path, ("result.json",), resume=True)
    check_run_dir(tmp_path, ("result.json",), overwrite=True)
    with pytest.raises(UserError, match="exclude each other"):
        check_run_dir(tmp_path, ("result.json",), resume=True, overwrite=True)


def test_out_naming_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        check_run_dir(tmp_path / "file", ())
    with pytest.raises(UserError, match="is a file"):
        check_run_dir(tmp_path / "file" / "run", ())


def test_out_in_an_unwritable_place_is_refused(read_only_folder):
    locked = read_only_folder()
    with pytest.raises(UserError, match="not writable"):
        check_run_dir(locked / "run", ())
    with pytest.raises(UserError, match="not writable"):
        check_run_dir(locked, ())


def test_stale_temporaries_of_killed_writes_are_removed_on_the_next_start(tmp_path):
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")
    (tmp_path / "monolithic").mkdir()
    (tmp_path / "monolithic" / ".checkpoint.pt.x.tmp").write_bytes(b"half")
    (tmp_path / "keep.tmp").write_text("not ours")
    with RunDir(tmp_path):
        pass
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep.tmp", "monolithic"]


def test_failure_before_the_first_checkpoint_leaves_nothing_behind(tmp_path):
    (tmp_path / "old.txt").write_text("older file")
    with pytest.raises(RuntimeError), RunDir(tmp_path / "fresh"):
        (tmp_path / "fresh" / "config.json").write_text("{}")
        (tmp_path / "fresh" / "tensorboard").mkdir()
        raise RuntimeError("diverged")
    assert not (tmp_path / "fresh").exists()
    with pytest.raises(RuntimeError), RunDir(tmp_path):
        (tmp_path / "config.json").write_text("{}")
        raise RuntimeError("diverged")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]  # only what this run made is gone
    with pytest.raises(RuntimeError), RunDir(tmp_path / "kept"):
        (tmp_path / "kept" / "checkpoint.pt").write_text("x")
        (tmp_path / "kept" / "config.json").write_text("{}")
        raise RuntimeError("diverged later")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["checkpoint.pt", "config.json"]


def test_other_ranks_neither_lock_nor_clean(tmp_path):
    with RunDir(tmp_path / "run"), RunDir(tmp_path / "run", writer=False):  # a second writer would be refused
        pass
    other = tmp_path / "other"
    other.mkdir()
    (other / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")
    with pytest.raises(RuntimeError), RunDir(other, writer=False):
        assert not (other / LOCK).exists()
        (other / "partial.json").write_text("{}")
        raise RuntimeError("failed before any checkpoint")
    assert sorted(p.name for p in other.iterdir()) == [".checkpoint.pt.abc123.tmp", "partial.json"]
