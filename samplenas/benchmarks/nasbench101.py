"""NAS-Bench-101 queries from an HDF5 table, with the interface of the official `nasbench.api.NASBench`.

The official API parses a 2 GB tfrecord into Python dicts (about two minutes, several GB). Here the
table written by `samplenas nb101 convert` is memory-mapped: opening reads the header and indexes the
cell stored in each row (a fraction of a second), a query of a spec finds its row by the cell's
structure (`CellIndex`; no hash computed) and a query by hash costs one binary search over the sorted
hash column, and vectorised calls return numpy arrays for many cells at once. Missing values are NaN, never 0.

Official behaviour kept where ported code depends on it: `hash_iterator()` is a re-iterable keys
view with a length, `fixed_statistics` / `computed_statistics` are read-only mappings keyed by hash
(rows are decoded on access), `get_metrics_from_hash` has a key for every epoch budget in
`valid_epochs` (an empty list where the table holds no run of that cell at that budget), and an
unknown hash raises a `KeyError` (`UnknownHashError`, also an `OutOfDomainError`).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable, Iterator, KeysView, Mapping, Sequence
from pathlib import Path

import numpy as np

from samplenas.benchmarks.nasbench101_index import CellIndex
from samplenas.benchmarks.nasbench101_records import METRIC_COLUMNS, METRICS, op_names
from samplenas.benchmarks.table_schema import read_table
from samplenas.errors import UserError
from samplenas.spaces.nasbench101 import CANONICAL_OPS, MAX_EDGES, NUM_VERTICES, ModelSpec, spec_problem

REPEAT_CHOICES = ("mean", "random")
MISSING_TIME_CHOICES = ("nan", "mean")


class OutOfDomainError(UserError):
    """The spec, hash or budget is outside the table (official name, so ported code keeps working)."""


class UnknownHashError(OutOfDomainError, KeyError):
    """A module hash the table does not hold: a KeyError, as the official dict lookup raises."""

    __str__ = Exception.__str__  # the message, not KeyError's repr of it


class MissingTrainingTimeWarning(UserWarning):
    """A query's training time is unknown in this table, so the time counter is NaN or an estimate."""


class NASBench101:
    """Queries one converted table. `seed` (int or numpy Generator) makes the repeat draws reproducible.

    `missing_time` says what a query whose training time the table lacks adds to the time counter:
    "nan" (the counter becomes NaN: honest, but a loop comparing it with a budget then stops at once,
    `while spent < budget`, or never, `if spent > budget: break`) or "mean" (the table's mean known
    training seconds per epoch times the epochs charged: an estimate that keeps budget loops
    finite). Either way the returned `training_time` stays NaN and the first such query warns once
    (MissingTrainingTimeWarning); `estimated_time_spent` holds the estimated part of the counter.
    """

    def __init__(self, path: str | Path, seed: int | np.random.Generator | None = None, missing_time: str = "nan"):
        if missing_time not in MISSING_TIME_CHOICES:
            raise UserError(f"missing_time must be one of {', '.join(MISSING_TIME_CHOICES)}, got {missing_time!r}")
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"{self.path}: no such table (make one with `samplenas nb101 convert`)")
        table = read_table(self.path)  # opened once: one-line UserError if anything is off
        self.budgets, self.source = table.budgets, table.source
        columns = table.columns
        self._hashes, self._num_vertices = columns["hash"], columns["num_vertices"]
        self._adjacency, self._ops = columns["adjacency"], columns["ops"]
        self._params, self._repeats = columns["trainable_parameters"], columns["repeats"]
        self._metrics = {name: columns[f"metrics/{name}"] for name in METRIC_COLUMNS}
        self._extra = table.extra()
        self._cells = CellIndex(self._adjacency, self._ops, self._num_vertices, self._hashes)
        self._rng = np.random.default_rng(seed)
        self.valid_epochs = set(self.budgets)
        self.config = {"module_vertices": NUM_VERTICES, "max_edges": MAX_EDGES,
                       "available_ops": list(CANONICAL_OPS), "num_repeats": self._metrics[METRIC_COLUMNS[0]].shape[2]}
        self._space = None
        self.missing_time = missing_time
        self._warned_missing_time = False
        self.fixed_statistics = _HashMapping(self, self._fixed)
        self.computed_statistics = _HashMapping(self, self._computed)
        self.reset_budget_counters()

    def __len__(self) -> int:
        return len(self._hashes)

    # --- the official API -------------------------------------------------------------------

    def query(self, model_spec: ModelSpec, epochs: int = 108, stop_halfway: bool = False) -> dict:
        """One run of the cell at `epochs`, drawn at random among its repeats; counts toward the budget.

        Keys as in the official API. With `stop_halfway` the metrics (and the budget charged) are those
        at epochs/2. `training_time` is NaN where the table lacks it, and then so is the time counter.
        """
        budget = self._budget_index(epochs)
        row = self._spec_row(model_spec)
        count = int(self._repeats[row, budget])
        repeat = int(self._rng.integers(count)) if count > 1 else 0
        stage = "halfway" if stop_halfway else "final"
        data = self._fixed(row)
        for metric in METRICS:
            data[metric] = float(self._metrics[f"{stage}_{metric}"][row, budget, repeat])
        charged = epochs // 2 if stop_halfway else epochs
        spent = data["training_time"]
        if math.isnan(spent):
            spent = self._missing_time(charged)
        self.training_time_spent += spent
        self.total_epochs_spent += charged
        return data

    def is_valid(self, model_spec: ModelSpec) -> bool:
        """Inside the NAS-Bench-101 space (official rules); does not check that the table holds it."""
        return spec_problem(model_spec) is None

    def get_budget_counters(self) -> tuple[float, int]:
        return self.training_time_spent, self.total_epochs_spent

    def reset_budget_counters(self) -> None:
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0
        self.estimated_time_spent = 0.0

    def hash_iterator(self) -> KeysView:
        """Every module hash, in table (sorted) order: a keys view, so `len()` and `in` work and it re-iterates."""
        return self.fixed_statistics.keys()

    def get_metrics_from_spec(self, model_spec: ModelSpec) -> tuple[dict, dict]:
        row = self._spec_row(model_spec)
        return self._fixed(row), self._computed(row)

    def get_metrics_from_hash(self, module_hash: str) -> tuple[dict, dict]:
        """(fixed_stats, computed_stats) as the official API: `computed_stats[epochs][repeat][key]`.

        Every budget of `valid_epochs` is a key; its list is empty where the table holds no run of
        the cell at that budget. Fresh objects on every call (the official deep-copies too).
        """
        row = self._row(module_hash)
        return self._fixed(row), self._computed(row)

    # --- beyond it: identity, means, vectorised lookups, top-k ------------------------------

    def hash_of(self, model_spec: ModelSpec) -> str:
        """The official hash of a spec inside the space; OutOfDomainError (saying why) otherwise."""
        _check_spec(model_spec)
        return model_spec.hash_spec(CANONICAL_OPS)

    def query_mean(self, model_spec: ModelSpec, epochs: int = 108, stop_halfway: bool = False) -> dict:
        """Like `query` but each metric is the mean over the repeats present; charges no budget."""
        row = self._spec_row(model_spec)
        data = self._fixed(row)
        for metric in METRICS:
            data[metric] = float(self.values(metric, [row], epochs, stop_halfway, repeat="mean")[0])
        return data

    def lookup(self, hashes: Iterable[str | bytes]) -> np.ndarray:
        """Row numbers of many hashes at once; OutOfDomainError names the first one not in the table."""
        keys = np.asarray(list(hashes) if not isinstance(hashes, np.ndarray) else hashes).astype("S32")
        rows = np.searchsorted(self._hashes, keys)
        inside = rows < len(self._hashes)
        found = inside.copy()
        found[inside] = self._hashes[rows[inside]] == keys[inside]
        if not found.all():
            missing = keys[np.flatnonzero(~found)[0]].decode("ascii", "replace")
            raise UnknownHashError(f"module hash {missing} is not in {self.path.name}")
        return rows

    def lookup_specs(self, specs: Iterable[ModelSpec]) -> np.ndarray:
        return np.array([self._spec_row(spec) for spec in specs], dtype=np.int64)

    def lookup_archs(self, archs: Iterable[Sequence[int]]) -> np.ndarray:
        """Rows of flat `nb101` architectures (see samplenas.spaces SPACES["nb101"])."""
        if self._space is None:
            from samplenas.spaces import SPACES

            self._space = SPACES["nb101"]()
        return self.lookup_specs(self._space.decode(arch) for arch in archs)

    def hashes(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The S32 hash column (all rows, or the given ones)."""
        return np.asarray(self._hashes if rows is None else self._hashes[np.asarray(rows)])

    def values(self, metric: str, rows: np.ndarray | Sequence[int] | None = None, epochs: int = 108,
               stop_halfway: bool = False, repeat: str | int = "mean") -> np.ndarray:
        """One float per row (all rows when None) of a metric: a per-run one (`test_accuracy`, ...,
        at `epochs`, the halfway point if `stop_halfway`, reduced over repeats by `repeat`: "mean",
        "random" or a repeat index) or a per-cell one (`trainable_parameters`, extra columns)."""
        index = slice(None) if rows is None else np.asarray(rows, dtype=np.int64)
        if metric == "trainable_parameters":
            return np.asarray(self._params[index], dtype=np.float64)
        if metric in self._extra:
            return np.asarray(self._extra[metric][index], dtype=np.float64)
        if metric not in METRICS:
            raise UserError(f"unknown metric {metric!r}; valid: {', '.join(self.metric_names())}")
        budget = self._budget_index(epochs)
        runs = np.asarray(self._metrics[f"{'halfway' if stop_halfway else 'final'}_{metric}"][index, budget, :],
                          dtype=np.float64)
        if repeat == "mean":
            present = np.isfinite(runs)
            counts = present.sum(axis=1)
            totals = np.where(present, runs, 0.0).sum(axis=1)
            return np.divide(totals, counts, out=np.full(len(runs), np.nan), where=counts > 0)
        if repeat == "random":
            counts = np.maximum(np.asarray(self._repeats[index, budget], dtype=np.int64), 1)
            chosen = (self._rng.random(len(runs)) * counts).astype(np.int64)
            return runs[np.arange(len(runs)), chosen]
        if isinstance(repeat, (int, np.integer)) and 0 <= repeat < runs.shape[1]:
            return runs[:, int(repeat)]
        raise UserError(f"repeat must be one of {REPEAT_CHOICES} or an index below {runs.shape[1]}, got {repeat!r}")

    def top_k(self, k: int, metric: str = "test_accuracy", epochs: int = 108, stop_halfway: bool = False,
              repeat: str | int = "mean") -> list[tuple[str, float]]:
        """The k cells with the highest value of `metric` (missing values never rank), best first; cells of
        equal value in table order, so the same k on every machine (the accuracies repeat often, and which
        tied cells a partition returns depends on numpy's build and the CPU)."""
        scores = self.values(metric, None, epochs, stop_halfway, repeat)
        known = np.flatnonzero(np.isfinite(scores))
        k = min(k, len(known))
        if k <= 0:
            return []
        kth = -np.partition(-scores[known], k - 1)[k - 1]
        candidates = known[scores[known] >= kth]  # every cell tied with the k-th, in table order
        best = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        return [(self._hashes[row].decode("ascii"), float(scores[row])) for row in best]

    def vertex_counts(self) -> dict[int, int]:
        """Number of cells per vertex count (the paper: {7: 359082, 6: 62010, ...} for the full table)."""
        vertices, counts = np.unique(self._num_vertices, return_counts=True)
        return {int(v): int(c) for v, c in zip(vertices, counts)}

    def metric_names(self) -> list[str]:
        return [*METRICS, "trainable_parameters", *self._extra]

    # --- internals ----------------------------------------------------------------------------

    def _budget_index(self, epochs: int) -> int:
        if epochs not in self.valid_epochs:
            raise OutOfDomainError(f"invalid number of epochs {epochs}, must be one of {sorted(self.valid_epochs)}")
        return self.budgets.index(epochs)

    def _spec_row(self, model_spec: ModelSpec) -> int:
        """Row of a spec inside the space, found by its structure (no hash computed); a spec the table
        lacks is hashed only to name it in the UnknownHashError."""
        _check_spec(model_spec)
        row = self._cells.row(model_spec.matrix, model_spec.ops)
        return self._row(model_spec.hash_spec(CANONICAL_OPS)) if row is None else row

    def _row(self, module_hash: str) -> int:
        row = self._find(module_hash)
        if row is None:
            raise UnknownHashError(f"module hash {module_hash} is not in {self.path.name}")
        return row

    def _find(self, module_hash) -> int | None:
        """Row of a hash (str or bytes), None when absent or not a hash at all."""
        if isinstance(module_hash, bytes):  # numpy's S32 items are bytes too
            key = bytes(module_hash)
        elif isinstance(module_hash, str) and module_hash.isascii():
            key = module_hash.encode("ascii")
        else:
            return None
        row = int(self._hashes.searchsorted(key))
        return row if row < len(self._hashes) and self._hashes[row] == key else None

    def _computed(self, row: int) -> dict[int, list[dict]]:
        return {
            epochs: [{name: float(self._metrics[name][row, budget, r]) for name in METRIC_COLUMNS}
                     for r in range(int(self._repeats[row, budget]))]
            for budget, epochs in enumerate(self.budgets)
        }

    def _missing_time(self, epochs: int) -> float:
        """What the time counter adds for a query whose time is unknown (see the class docstring)."""
        rate = self._seconds_per_epoch if self.missing_time == "mean" else math.nan
        if not self._warned_missing_time:
            self._warned_missing_time = True
            if math.isnan(rate):
                effect = ("the time counter is NaN from now on: `spent > budget` stays False and "
                          "`spent < budget` turns False; budget by epochs (the second counter)")
                if self.missing_time == "nan":
                    effect += " or pass missing_time='mean'"
            else:
                effect = (f"the time counter adds an estimate for such queries: {rate:.2f} s per epoch, the "
                          f"mean of the times this table holds (see estimated_time_spent)")
            warnings.warn(f"{self.path.name}: a queried run has no training time in this table; {effect}",
                          MissingTrainingTimeWarning, stacklevel=3)
        self.estimated_time_spent += rate * epochs
        return rate * epochs

    @functools.cached_property
    def _seconds_per_epoch(self) -> float:
        """Mean training seconds per epoch over every final-stage run whose time the table holds."""
        times = np.asarray(self._metrics["final_training_time"], dtype=np.float64)
        known = np.isfinite(times)
        epochs = np.broadcast_to(np.asarray(self.budgets, dtype=np.float64)[None, :, None], times.shape)
        total_epochs = epochs[known].sum()
        return float(times[known].sum() / total_epochs) if total_epochs else math.nan

    def _fixed(self, row: int) -> dict:
        n = int(self._num_vertices[row])
        params = float(self._params[row])
        return {
            "module_adjacency": np.array(self._adjacency[row, :n, :n], dtype=np.int8),
            "module_operations": op_names(self._ops[row], n),
            "trainable_parameters": int(params) if math.isfinite(params) else math.nan,
        }


def _check_spec(model_spec: ModelSpec) -> None:
    problem = spec_problem(model_spec)
    if problem:
        raise OutOfDomainError(f"spec outside the NAS-Bench-101 space: {problem}")


class _HashMapping(Mapping):
    """hash -> per-cell statistics, decoded from the table on access (the official builds dicts of them)."""

    def __init__(self, bench: NASBench101, read):
        self._bench, self._read = bench, read

    def __getitem__(self, module_hash: str):
        return self._read(self._bench._row(module_hash))

    def __contains__(self, module_hash) -> bool:
        return self._bench._find(module_hash) is not None

    def __iter__(self) -> Iterator[str]:
        return (h.decode("ascii") for h in self._bench._hashes)

    def __len__(self) -> int:
        return len(self._bench)
