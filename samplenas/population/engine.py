"""The population engine: evaluations as Ray tasks, streamed back as they finish.

Population searches (evolution, PBT, Deep-n-Cheap) train many candidates fully and independently, so
each evaluation is one Ray task. Ray Core gives what the evolving-autoencoders paper built by hand in
Go (broker, name server, heartbeats): scheduling over whatever nodes are alive, re-running a task
whose worker or node died (`max_retries`), cancelling (`ray.cancel`), and nodes joining a running
cluster. On top of that this module adds only the bookkeeping a search needs:

* `ray_runtime` -- a local Ray for the run (`--workers`) or joining a cluster (`--address`), with Ray's
  reports of lost workers in the run's ray.log rather than on the terminal (`ray_messages`);
* `Engine` -- submit (key, payload) jobs, iterate results as they finish, a per-attempt time limit
  with a clear error when retries run out, never two results for one key, and an in-flight cap
  that follows the cluster's size (so nodes that join get work without a restart);
* `EvaluationCache`, `ResultsLog` (append-only `evaluations.jsonl`, fsync per line, deduplicated by
  key, re-read on resume) and `save_state` / `load_state` for the driver's per-generation checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402  (after the usage-stats switch)
from ray import exceptions as ray_errors  # noqa: E402

from samplenas.errors import UserError  # noqa: E402
from samplenas.population.ray_messages import routed  # noqa: E402
from samplenas.strict_json import dumps as strict_dumps  # noqa: E402
from samplenas.strict_json import strict as strict_json  # noqa: E402  (one helper for every JSON writer)
from samplenas.training.checkpoint import save_json  # noqa: E402

POLL_S = 0.5  # how often the driver re-checks time limits and the cluster's size while waiting
# failures of the machinery (not of the evaluated code): worth running the task again
SYSTEM_FAILURES = (ray_errors.WorkerCrashedError, ray_errors.NodeDiedError, ray_errors.LocalRayletDiedError,
                   ray_errors.ObjectLostError, ray_errors.OwnerDiedError, ray_errors.TaskUnschedulableError,
                   ray_errors.OutOfMemoryError)


class EvaluationError(UserError):
    """An evaluation that could not be completed (its own exception, or retries spent)."""


# --- the Ray runtime ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuntimeInfo:
    address: str
    owned: bool  # started for this run (and shut down at its end)
    cpus: float


def thread_env(threads_per_worker: int) -> dict[str, str]:
    """Environment for worker processes: one BLAS/OpenMP pool of `threads_per_worker` each, so W
    workers on W cores do not each start a pool as wide as the machine."""
    value = str(max(1, int(threads_per_worker)))
    return {"OMP_NUM_THREADS": value, "MKL_NUM_THREADS": value, "RAY_USAGE_STATS_ENABLED": "0"}


def check_address(address: str) -> None:
    """Fail fast (one line) on an address nothing listens at, instead of Ray's long connect retries."""
    if address == "auto":
        return  # Ray resolves it from the local session file, or fails quickly itself
    host, sep, port = address.rpartition(":")
    if address.startswith("ray://"):
        raise UserError(f"--address {address}: Ray Client addresses are not supported; give HOST:PORT of the head")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--address {address!r} is not 'auto' or HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as err:
        raise UserError(f"cannot reach Ray cluster at {address} ({err.strerror or err})") from None


@contextmanager
def ray_runtime(workers: int | None = None, address: str | None = None,
                threads_per_worker: int = 1, log: Path | None = None) -> Iterator[RuntimeInfo]:
    """Ray for one run: reuse an initialised one, join `address`, or start a local one.

    A local instance gets `num_cpus=workers` (all cores when None), no dashboard, a short temp dir
    under /tmp (Ray's socket paths must stay under 107 characters) removed at exit. Joining a cluster
    ships this package to its workers (`shipped_code`). Ray's reports of a lost worker go to `log`
    (the run's ray.log), each retry in one line, not to the terminal (`ray_messages`).
    """
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if address is not None:
        check_address(address)
    with routed(log):
        if ray.is_initialized():
            yield RuntimeInfo(_gcs_address(), False, cluster_cpus())
            return
        runtime_env = {"env_vars": thread_env(threads_per_worker)}
        temp_dir = None
        if address is not None:
            try:
                ray.init(address=address, runtime_env={**runtime_env, "py_modules": [shipped_code()]},
                         logging_level="ERROR", log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise UserError(f"cannot join Ray cluster at {address}: {str(err).splitlines()[0]}") from None
        else:
            temp_dir = tempfile.mkdtemp(prefix="snray", dir="/tmp")
            ray.init(num_cpus=workers, include_dashboard=False, _temp_dir=temp_dir, runtime_env=runtime_env,
                     logging_level="ERROR", log_to_driver=False)
        try:
            yield RuntimeInfo(_gcs_address(), address is None, cluster_cpus())
        finally:
            ray.shutdown()  # inside `routed`: a report that arrives while Ray stops is routed too
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)


def shipped_code() -> str:
    """The folder of this package, which a cluster's workers receive through `runtime_env["py_modules"]`:
    nodes need Python with the dependencies, not the project itself, and run the driver's exact code."""
    import samplenas

    return str(Path(samplenas.__file__).resolve().parent)


def _gcs_address() -> str:
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:  # noqa: BLE001 - informational only
        return "local"


def cluster_cpus() -> float:
    """CPUs of the nodes alive now (grows when a node joins, shrinks when one dies)."""
    return float(sum(node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node.get("Alive")))


def alive_nodes() -> int:
    return sum(1 for node in ray.nodes() if node.get("Alive"))


# --- one evaluation ---------------------------------------------------------------------------------
AUDIT_OPENS = "SAMPLENAS_AUDIT_OPENS"  # tests: a folder where each worker process lists the paths it opens
_SHARED: dict[str, Any] = {}  # the shared value of the last ref this worker process resolved
_AUDITED: list[bool] = []


def shared_value(ref: ray.ObjectRef) -> Any:
    """The driver's shared value (the loaded data set), fetched from the object store once per worker
    process: Ray reuses workers between tasks, and deserialising a data set per task would cost more than
    training a small candidate."""
    key = ref.hex()
    if key not in _SHARED:
        _SHARED.clear()
        _SHARED[key] = ray.get(ref)
    return _SHARED[key]


def _audit_opens() -> None:
    """When AUDIT_OPENS names a folder (the test suite sets it before Ray starts), append every path this
    worker process opens to `<folder>/<pid>.opens`: how the tests prove that workers read nothing from
    the run folder or the data folder."""
    folder = os.environ.get(AUDIT_OPENS)
    if not folder or _AUDITED:
        return
    _AUDITED.append(True)
    record = open(os.path.join(folder, f"{os.getpid()}.opens"), "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def hook(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            record.write(os.fsdecode(args[0]) + "\n")

    sys.addaudithook(hook)


def _run_task(task_fn: Callable[..., dict], payload: Any, threads: int, shared: list | None = None) -> dict:
    """What every Ray task runs: the evaluation plus where and how long it ran. `shared`: [ref] of the
    value every task of the engine shares, passed inside a list so Ray hands the task the reference (it
    resolves only top-level references) and the worker fetches it once (`shared_value`)."""
    _audit_opens()
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # engines for torch-free evaluations
        pass
    started = time.perf_counter()
    value = task_fn(payload) if shared is None else task_fn(payload, shared_value(shared[0]))
    if not isinstance(value, dict) or "fitness" not in value:
        raise TypeError(f"the evaluation returned {type(value).__name__}, expected a dict with 'fitness'")
    context = ray.get_runtime_context()
    return {"value": value, "wall_s": time.perf_counter() - started, "pid": os.getpid(),
            "node": socket.gethostname(), "node_id": context.get_node_id()}


@dataclass(frozen=True)
class Result:
    """One finished evaluation."""

    key: str
    fitness: float
    metrics: dict
    wall_s: float
    node: str
    node_id: str
    pid: int
    attempts: int
    finished_at: float

    def to_record(self) -> dict:
        """JSON-able (non-finite numbers become null) -- one line of evaluations.jsonl."""
        return strict_json(asdict(self))


@dataclass
class _Pending:
    key: str
    payload: Any
    attempt: int = 1
    dispatched_at: float = 0.0
    causes: list[str] = field(default_factory=list)


class Engine:
    """Runs `task_fn(payload) -> {"fitness": float, ...}` as Ray tasks; see the module docstring.

    max_retries: Ray re-runs a task whose worker/node died up to this many times (Ray's own retries,
    the only ones for deaths: when they are spent the search stops with one line), and the engine
    re-submits a task that exceeded `timeout_s` up to this many times (Ray does not re-run a task
    cancelled for its time limit). max_in_flight: tasks handed
    to Ray at once (default: alive CPUs // num_cpus, re-read while running, so the time limit
    measures running time, not queueing, and joining nodes are used). shared: a value every task
    needs (the loaded data set), put into the object store once and handed to
    `task_fn(payload, shared)` by reference, so workers read nothing from the driver's disks.
    """

    def __init__(self, task_fn: Callable[..., dict], *, max_retries: int = 3, timeout_s: float | None = None,
                 max_in_flight: int | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 threads_per_worker: int = 1, shared: Any = None):
        if max_retries < 0:
            raise UserError(f"max_retries must be >= 0, got {max_retries}")
        if timeout_s is not None and not timeout_s > 0:
            raise UserError(f"the per-evaluation time limit must be positive, got {timeout_s}")
        if max_in_flight is not None and max_in_flight < 1:
            raise UserError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.task_fn = task_fn
        self.max_retries = int(max_retries)
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self.num_cpus = float(num_cpus)
        self.threads = int(threads_per_worker)
        self._shared = None if shared is None else [ray.put(shared)]
        self._remote = ray.remote(_run_task).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                                                    retry_exceptions=False)
        self._queue: deque[_Pending] = deque()
        self._running: dict[ray.ObjectRef, _Pending] = {}
        self._seen: set[str] = set()
        self._capacity_checked = -math.inf
        self._capacity = 1
        self.done = 0
        self.timeouts = 0

    # -- state
    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return len(self._running)

    def capacity(self) -> int:
        """How many tasks may be in flight now (re-read from the cluster at most every POLL_S)."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        now = time.monotonic()
        if now - self._capacity_checked >= POLL_S:
            self._capacity = max(1, int(cluster_cpus() // self.num_cpus)) if self.num_cpus > 0 else 1
            self._capacity_checked = now
        return self._capacity

    # -- submitting and collecting
    def submit(self, key: str, payload: Any) -> bool:
        """Queue one evaluation; False (and nothing queued) when `key` was submitted before."""
        if key in self._seen:
            return False
        self._seen.add(key)
        self._queue.append(_Pending(key, payload))
        return True

    def run(self, items: Iterable[tuple[str, Any]]) -> dict[str, Result]:
        for key, payload in items:
            self.submit(key, payload)
        return {result.key: result for result in self.as_completed()}

    def as_completed(self) -> Iterator[Result]:
        """Results in the order they finish, until nothing is queued or running."""
        try:
            while self._queue or self._running:
                self._dispatch()
                ready, _ = ray.wait(list(self._running), num_returns=1, timeout=self._wait_s())
                for ref in ready:
                    result = self._collect(ref)
                    if result is not None:
                        self.done += 1
                        yield result
                self._enforce_time_limit()
        except BaseException:
            self.cancel_all()
            raise

    def cancel_all(self) -> None:
        """Cancel everything in flight (on errors and interrupts: no orphan work keeps running)."""
        for ref in list(self._running):
            ray.cancel(ref, force=True)
        self._running.clear()
        self._queue.clear()

    # -- internals
    def _dispatch(self) -> None:
        while self._queue and len(self._running) < self.capacity():
            pending = self._queue.popleft()
            pending.dispatched_at = time.monotonic()
            self._running[self._remote.remote(self.task_fn, pending.payload, self.threads,
                                                  self._shared)] = pending

    def _wait_s(self) -> float:
        if self.timeout_s is None or not self._running:
            return POLL_S
        nearest = min(p.dispatched_at for p in self._running.values()) + self.timeout_s
        return max(0.0, min(POLL_S, nearest - time.monotonic()))

    def _collect(self, ref) -> Result | None:
        pending = self._running.pop(ref)
        try:
            out = ray.get(ref)
        except ray_errors.TaskCancelledError:
            return None  # cancelled for its time limit; already re-queued or failed
        except SYSTEM_FAILURES as err:  # Ray re-ran it max_retries times already: the one retry layer for deaths
            raise EvaluationError(f"evaluation {pending.key} failed after {self.max_retries + 1} attempts; last: its "
                                  f"worker or node died ({type(err).__name__})") from None
        except ray_errors.RayTaskError as err:  # the evaluation itself raised: deterministic, no retry
            cause = err.cause if getattr(err, "cause", None) is not None else err
            raise EvaluationError(f"evaluation {pending.key} failed: {type(cause).__name__}: "
                                  f"{str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}") from None
        value = dict(out["value"])
        fitness = float(value.pop("fitness"))
        return Result(pending.key, fitness, value, float(out["wall_s"]), str(out["node"]), str(out["node_id"]),
                      int(out["pid"]), pending.attempt, time.time())

    def _enforce_time_limit(self) -> None:
        if self.timeout_s is None:
            return
        now = time.monotonic()
        for ref, pending in list(self._running.items()):
            if now - pending.dispatched_at > self.timeout_s:
                ray.cancel(ref, force=True)  # kills the worker process running it
                del self._running[ref]
                self.timeouts += 1
                self._retry(pending, f"timed out after {self.timeout_s:g} s")

    def _retry(self, pending: _Pending, cause: str) -> None:
        pending.causes.append(cause)
        if pending.attempt > self.max_retries:
            raise EvaluationError(f"evaluation {pending.key} failed after {pending.attempt} attempts; last: {cause}")
        pending.attempt += 1
        self._queue.appendleft(pending)


# --- bookkeeping --------------------------------------------------------------------------------------
class EvaluationCache:
    """Records by genotype key (`space.key`): a genotype seen before is never trained again."""

    def __init__(self, records: dict[str, dict] | None = None):
        self._records: dict[str, dict] = dict(records or {})
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: str) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> dict | None:
        record = self._records.get(key)
        if record is None:
            self.misses += 1
        else:
            self.hits += 1
        return record

    def put(self, key: str, record: dict) -> None:
        self._records[key] = record

    @property
    def hit_fraction(self) -> float:
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0

    def to_json(self) -> dict:
        return {"records": self._records, "hits": self.hits, "misses": self.misses}

    @classmethod
    def from_json(cls, data: dict) -> EvaluationCache:
        cache = cls(data["records"])
        cache.hits, cache.misses = int(data["hits"]), int(data["misses"])
        return cache


class ResultsLog:
    """Append-only JSON lines, one per finished evaluation, each flushed and fsynced as it arrives.

    Opening re-reads the file (`population.rundir.read_log`): a torn last line (the process was killed
    mid-write) is cut off; any other damaged line is a UserError naming the file and line (nothing is
    cut). A record whose "key" is already in the file is not written again, so a retried or resumed
    evaluation never appears twice. A write that fails (a full disk) leaves the file as it was.
    """

    def __init__(self, path: str | Path, required: tuple[str, ...] = ("key",)):
        self.path = Path(path)
        self._records: list[dict] = []
        self._keys: set[str] = set()
        if self.path.exists():
            self._load(required)

    def _load(self, required: tuple[str, ...]) -> None:
        from samplenas.population.rundir import read_log

        records, good = read_log(self.path, required)
        self._records = records
        self._keys = {r["key"] for r in records}
        if good < self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good)

    def append(self, record: dict) -> bool:
        if record["key"] in self._keys:
            return False
        line = strict_dumps(record, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            size = f.tell()
            try:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            except OSError as err:
                from samplenas.population.rundir import write_error

                try:  # no torn line left behind
                    f.truncate(size)
                except OSError:
                    pass
                raise write_error(err, self.path) from None
        self._records.append(record)
        self._keys.add(record["key"])
        return True

    def records(self) -> list[dict]:
        return list(self._records)

    def keys(self) -> set[str]:
        return set(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._records)


def save_state(path: str | Path, state: dict) -> None:
    """The driver's state as strict JSON, atomically (temp file, fsync, rename: never half-written)."""
    save_json(path, state)


def load_state(path: str | Path) -> dict:
    path = Path(path)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} not found: nothing to resume") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not a valid state file ({err})") from None
    if not isinstance(state, dict):
        raise UserError(f"{path} is not a valid state file (expected a JSON object)")
    return state
