"""Cheap stand-in evaluations: for measuring the engine itself (tools/bench_engine.py), for showing
fault tolerance and elasticity, and for testing the search algorithms without training networks.

They live in the package (not in tests or tools) so Ray workers can import them by name.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def sleep_task(payload: dict) -> dict:
    """Sleep `seconds` (a task of known length), optionally after writing this worker's pid to
    `pid_file` (so a test can SIGKILL the process running it) and appending to `started_log`.

    With a `pid_file`, the first attempt sleeps `first_attempt_seconds` instead (when given), so a killer
    that is slow under load still finds that attempt running; retries sleep `seconds`."""
    seconds = float(payload.get("seconds", 0.0))
    if payload.get("pid_file"):
        path = Path(payload["pid_file"])
        first = path.with_suffix(".first-attempt")
        if "first_attempt_seconds" in payload and not first.exists():
            first.touch()
            seconds = float(payload["first_attempt_seconds"])
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(str(os.getpid()))
        os.replace(temp, path)
    if payload.get("started_log"):
        with open(payload["started_log"], "a") as f:
            f.write(f"{payload.get('name', '')} {os.getpid()}\n")
    time.sleep(seconds)
    return {"fitness": float(payload.get("fitness", 0.0)), "slept_s": seconds}


def fail_task(payload: dict) -> dict:
    """An evaluation that raises (its error must reach the driver as one line, without retries)."""
    raise ValueError(payload.get("message", "this evaluation always fails"))


def crash_task(payload: dict) -> dict:
    """An evaluation whose worker process dies every time (after appending its pid to `started_log`)."""
    with open(payload["started_log"], "a") as f:
        f.write(f"{os.getpid()}\n")
    os._exit(1)


def layer_count_fitness(payload: dict) -> dict:
    """A deterministic stand-in fitness of an autoencoder genotype (its choice list): rewards wide
    convolutions and two to three layers, penalises dropout -- cheap, with a known optimum
    (e.g. two 7x7 convolutions with 64 filters)."""
    choices = [c for c in payload["arch"] if c != 0]
    score = 0.0
    for c in choices:
        if c == 17:  # dropout
            score -= 1.0
        else:
            kernel_index, filter_index = divmod(c - 1, 4)
            score += 0.5 * kernel_index + 0.25 * filter_index
    score -= 0.5 * abs(len(choices) - 2)
    return {"fitness": score, "layers": len(choices)}
