"""Budgets from the command line's limits: --max-params, --max-macs, --max-latency-ms with --latency-table.

Parameters and multiply-adds are those of the architecture's standalone network (`supernet.cost`);
latency comes from a latency lookup table measured on the user's device (`samplenas.hardware`),
read through `latency_cost`, the one place that knows that module's interface.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from samplenas.errors import UserError
from samplenas.samplers.budget import Budget, CostFunction, merge_costs
from samplenas.spaces.base import Arch


def check_latency_flags(max_latency_ms: float | None, latency_table: str | Path | None) -> None:
    if (max_latency_ms is None) != (latency_table is None):
        raise UserError("--max-latency-ms and --latency-table go together (the table predicts the latency)")


def latency_cost(path: str | Path, space: str | None = None, network: dict | None = None) -> CostFunction:
    """{"latency_ms": predicted milliseconds} from the latency table at `path`, which must have been measured
    for `space` and `network` (each checked when given; one UserError line otherwise)."""
    try:
        from samplenas.hardware import LatencyModel
    except ImportError:
        raise UserError("--latency-table needs samplenas.hardware (latency tables), which this installation "
                        "lacks") from None
    model = LatencyModel.load(path)
    model.require(space=space, network=network)
    return lambda arch: {"latency_ms": float(model.predict(arch))}


def make_budget(cost: Callable[[Arch], dict] | None, max_params: int | None = None, max_macs: int | None = None,
                max_latency_ms: float | None = None, latency_table: str | Path | None = None,
                space: str | None = None, network: dict | None = None) -> Budget | None:
    """The budget of the given limits (None when none is given); `cost` gives params and macs; a latency
    table must match `space` and `network` (when given)."""
    check_latency_flags(max_latency_ms, latency_table)
    limits = {"params": max_params, "macs": max_macs, "latency_ms": max_latency_ms}
    if all(value is None for value in limits.values()):
        return None
    functions = []
    if max_params is not None or max_macs is not None:
        functions.append(cost)
    if latency_table is not None:
        functions.append(latency_cost(latency_table, space, network))
    return Budget(limits, merge_costs(*functions))


def supernet_budget(supernet, max_params=None, max_macs=None, max_latency_ms=None, latency_table=None) -> Budget | None:
    """The budget on the standalone networks of `supernet`'s architectures, checked to admit some."""
    settings = getattr(supernet, "made_with", None)  # latency is the architecture's own network's
    network = supernet.deployed_settings(settings) if settings is not None else None
    budget = make_budget(supernet.cost, max_params, max_macs, max_latency_ms, latency_table,
                         space=supernet.space.name or None, network=network)
    return budget.probe(supernet.space) if budget is not None else None

