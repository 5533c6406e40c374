"""Timing forward passes on one device: warm-up calls, then the median of timed repeats, and the
minimum of that median over several rounds.

Rounds go over every item before the next round starts, so a burst of other work on the machine
slows one round of an item rather than all of its repeats; taking the least of the round medians
keeps the undisturbed one. On CUDA every timed call is followed by a synchronisation, so the time is
that of the kernels, not of queuing them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Protocol:
    """How every block and network is timed."""

    warmup: int = 5
    repeats: int = 20
    rounds: int = 3

    def describe(self) -> dict:
        return {"warmup": self.warmup, "repeats": self.repeats, "rounds": self.rounds,
                "statistic": "least over rounds of the median of repeats, in milliseconds"}


def synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _median_ms(call: Callable[[], object], protocol: Protocol, sync: Callable[[], None]) -> float:
    for _ in range(protocol.warmup):
        call()
    sync()
    times = []
    for _ in range(protocol.repeats):
        start = time.perf_counter()
        call()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def time_rounds(calls: Mapping[str, Callable[[], object]], protocol: Protocol,
                device: torch.device) -> dict[str, list[float]]:
    """The median milliseconds of every item in every round (rounds go over all items in turn)."""
    sync = synchronizer(device)
    medians: dict[str, list[float]] = {name: [] for name in calls}
    with torch.inference_mode():
        for _ in range(protocol.rounds):
            for name, call in calls.items():
                medians[name].append(_median_ms(call, protocol, sync))
    return medians


def time_calls(calls: Mapping[str, Callable[[], object]], protocol: Protocol, device: torch.device) -> dict[str, float]:
    """Milliseconds per call of every item: least over `rounds` of the median of `repeats` timed calls."""
    return {name: min(values) for name, values in time_rounds(calls, protocol, device).items()}


def forward_call(module: torch.nn.Module, shapes, batch_size: int, device: torch.device) -> Callable[[], object]:
    """A call running `module` (in eval mode, on `device`) on random inputs of the per-sample `shapes`."""
    module = module.to(device).eval()
    inputs = [torch.randn(batch_size, *shape, device=device) for shape in shapes]
    return lambda: module(*inputs)
