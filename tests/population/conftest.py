"""Fixtures of the population tests."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def _kill_when_started(pid_file: Path, alive: Callable[[], bool] = lambda: True, timeout_s: float = 120) -> int:
    """SIGKILL the worker whose held task writes its pid to `pid_file`, as soon as it has; returns that pid.

    Fails when the pid has not come within `timeout_s`, or once `alive()` is False (the run went on without it)."""
    deadline = time.monotonic() + timeout_s
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and alive(), f"the held task never wrote {pid_file}"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.fixture(scope="session")
def kill_when_started():
    """`kill_when_started(pid_file, alive=lambda: True) -> pid`: kill a held task's worker once it has started
    (the tests of Ray's retries of killed workers)."""
    return _kill_when_started
