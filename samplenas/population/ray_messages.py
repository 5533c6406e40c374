"""Ray's own reports of a lost worker, kept out of the user's terminal and in the run's log.

When a worker process dies, Ray's raylet sends the driver a several-line report (`(raylet) A worker
died or was killed ...`, then `Task ... failed. There are N retries remaining, so the task will be
retried`), which Ray's driver thread prints on stdout in the middle of the run's own output although
nothing is wrong with the run: Ray re-runs the task. While `routed` is active those reports are
appended to the run's log (`ray.log` in the run folder) instead, and each retry is said in one line.
Every other message of Ray passes through unchanged.

Ray has no public switch for these (`log_to_driver=False` silences the workers' output, not the
raylet's): the driver's printer, `ray._private.worker.print_to_stdstream`, is wrapped for the run.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import ray._private.worker as ray_worker

DEATH = re.compile(r"A worker died or was killed")
RETRY = re.compile(r"Task \S+ failed\b.*?(?:There are (\d+) (?:oom )?retries remaining, so the task will be retried"
                   r"|The task will be retried)", re.DOTALL)


def notice(line: str) -> None:
    """The run's one line on stderr (through tqdm, so a progress bar stays intact)."""
    from tqdm import tqdm

    tqdm.write(f"samplenas: {line}", file=sys.stderr)


@contextmanager
def routed(log: Path | None, say: Callable[[str], None] = notice) -> Iterator[None]:
    """Within the block, Ray's worker-death and retry reports go to `log` (appended; None: dropped) and
    each retry to `say` as one line, instead of to the terminal."""
    original = ray_worker.print_to_stdstream

    def route(data: dict, ignore_prefix: bool) -> None:
        lines = [str(line) for line in data.get("lines", ())]
        if data.get("pid") != "raylet" or not any(DEATH.search(line) or RETRY.search(line) for line in lines):
            original(data, ignore_prefix)
            return
        if log is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            try:  # in Ray's listener thread: an error here would end it (and every later report)
                with open(log, "a", encoding="utf-8") as f:
                    f.writelines(f"{stamp} (raylet) {line.rstrip()}\n" for line in lines)
            except OSError:
                pass  # the run's own writes report a full disk; this log is a courtesy
        for line in lines:
            retry = RETRY.search(line)
            if retry:
                left = f", {retry.group(1)} retries left" if retry.group(1) else ""
                where = f"; Ray's report is in {log}" if log is not None else ""
                say(f"a Ray worker died during an evaluation; Ray runs it again{left}{where}")

    ray_worker.print_to_stdstream = route
    try:
        yield
    finally:
        ray_worker.print_to_stdstream = original
