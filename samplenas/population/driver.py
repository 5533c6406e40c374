"""The run layer `evolve`, `pbt` and `dnc` share: the Ray settings every search takes (one set of
options, checked once), one driver session around a search (the run folder locked for one driver,
Ray joined or started, a write the user can act on reported as one line) and one loop that submits
evaluations, streams their results back and logs each as it arrives.

Ray itself is imported only when a session starts, so the command line can build these settings
without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samplenas.errors import UserError
from samplenas.training.typed_config import bounded, check_fields


@dataclass(frozen=True)
class RaySettings:
    """Where and how a search's tasks run: a local Ray of `workers` CPUs or the cluster at `address`,
    torch threads per worker, GPUs per task, a per-task time limit and Ray's retries of a task whose
    worker or node died (also the re-submissions of a timed-out task)."""

    address: str | None = None
    workers: int | None = bounded(None, ge=1)
    threads_per_worker: int = bounded(1, ge=1)
    gpus_per_candidate: float = bounded(0.0, ge=0)
    timeout: float | None = bounded(None, gt=0)  # seconds
    max_retries: int = bounded(3, ge=0)

    @property
    def device(self) -> str:
        """Where a task trains: "cuda" (the GPU Ray gave it) when it asks for GPUs, else "cpu"."""
        return "cuda" if self.gpus_per_candidate > 0 else "cpu"

    def check(self) -> RaySettings:
        """One line naming the first bad setting (as its flag); an unreachable address fails here."""
        check_fields(self, flags=True)
        if self.workers is not None and self.address is not None:
            raise UserError("--workers starts a local Ray; with --address the cluster's nodes are the workers")
        if self.address is not None:
            from samplenas.population.engine import check_address

            check_address(self.address)
        return self

    def engine(self, task_fn: Callable[..., dict], shared=None):
        """The search's `Engine` for `task_fn`, with these retries, time limit, GPUs and threads."""
        from samplenas.population.engine import Engine

        return Engine(task_fn, max_retries=self.max_retries, timeout_s=self.timeout, num_gpus=self.gpus_per_candidate,
                      threads_per_worker=self.threads_per_worker, shared=shared)


@contextmanager
def session(out: Path, keep: tuple[str, ...], ray: RaySettings, recheck: Callable[[], object] = lambda: None):
    """Hold `out` for this driver (`training.rundir.RunDir`: a second search on it is refused), run
    `recheck` under the lock (the resume files, read again), then join or start Ray (its worker-death
    reports go to OUT/ray.log, not the terminal); yields its `RuntimeInfo`. A write that failed for a
    reason the user can act on becomes one line."""
    from samplenas.population.engine import ray_runtime
    from samplenas.population.rundir import RAY_LOG, WRITE_ERRORS, write_error
    from samplenas.training.rundir import RunDir

    try:
        with RunDir(out, keep=keep):
            recheck()
            with ray_runtime(ray.workers, ray.address, ray.threads_per_worker, log=out / RAY_LOG) as runtime:
                _check_gpus(ray.gpus_per_candidate)
                yield runtime
    except OSError as err:
        if err.errno in WRITE_ERRORS:
            raise write_error(err, out) from None
        raise


def _check_gpus(per_task: float) -> None:
    """--gpus-per-candidate must fit the GPUs Ray sees, or every task waits forever."""
    if per_task <= 0:
        return
    import ray

    gpus = float(ray.cluster_resources().get("GPU", 0.0))
    if gpus < per_task:
        raise UserError(f"--gpus-per-candidate {per_task:g} exceeds the {gpus:g} GPU(s) of the Ray cluster; "
                        "no evaluation could ever start")


def stream(engine, jobs: Iterable[tuple[str, Any]], log, to_record: Callable[[Any], dict],
           monitor=None) -> Iterator[tuple[Any, dict]]:
    """Submit every (key, payload) of `jobs` to `engine`, then yield (result, record) in the order the
    results finish. Each result's record (`to_record(result)`) is appended to the results `log` before
    it is yielded, so a driver killed at any point loses no finished evaluation and `--resume` finds
    it there. `monitor` (a `SearchMonitor`) counts what was submitted and what came back."""
    submitted = 0
    for key, payload in jobs:
        engine.submit(key, payload)
        submitted += 1
    if monitor is not None:
        monitor.expect(submitted)
    for result in engine.as_completed():
        record = to_record(result)
        log.append(record)
        if monitor is not None:
            monitor.finished()
        yield result, record
