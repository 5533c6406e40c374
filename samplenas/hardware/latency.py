"""Latency on the device at hand: measure a space's building blocks into a table, predict a network's
latency from it, and use that prediction as a budget.

Measuring (`measure_table`, what `samplenas latency` runs): every block any architecture of the space
can contain is built alone at the shape it receives in the network (`samplenas.hardware.blocks`)
and timed (`samplenas.hardware.timing`); so are the fixed parts every network runs (stem,
classifier). A few random whole networks are then timed end to end and a scale
`measured = scale * sum` is fitted to them (least squares through the origin): the sum of separately
timed blocks misses what happens between blocks (Python's wiring of the network, the cache state a
block inherits), a share of the whole that grows with the network, and the scale takes it back. One
parameter, because a handful of calibration networks timed on a busy machine cannot pin down two: a
line `scale * sum + offset` fitted the same way predicted held-out networks worse
(docs/guide/latency.md).

Predicting and budgets -- the interface samplers and searches use:

    model = LatencyModel.load("latency.json")            # UserError (one line) for a bad file
    model.require(space="nb101", network={...})         # UserError if measured for another space/size
    model.predict(arch) -> float                        # milliseconds per forward pass of one batch
    cost = model.cost                                   # cost(arch) -> float, the same number
    within_budget = model.predict(arch) <= max_ms       # a latency budget

`predict` is additive: `scale * (sum of arch_blocks(arch) + sum of fixed)`, with no network built,
and cached per architecture.
"""

from __future__ import annotations

import inspect
import json
import platform
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from samplenas.errors import UserError
from samplenas.hardware.blocks import block_spec
from samplenas.hardware.table import FORMAT, VERSION, read_table
from samplenas.spaces.base import Arch

NOT_SETTINGS = ("self", "space")  # supernet parameters that are not network-size settings
# how a supernet shares weights: the networks it runs, and their latency, are the same
SHARING_ONLY = ("weight_key", "weight_copies")


def full_settings(space: str, network: dict | None) -> dict:
    """The supernet settings of `space` with `network` applied over the defaults, as JSON values, so two
    tables of the same network compare equal whatever defaults their commands left out."""
    from samplenas.supernet import SUPERNETS

    parameters = {p.name: p.default for p in inspect.signature(SUPERNETS[space].__init__).parameters.values()
                  if p.name not in NOT_SETTINGS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(network or {}) - set(parameters))
    if unknown:
        raise UserError(f"{space} network has no setting {unknown[0]!r}; valid: {', '.join(sorted(parameters))}")
    merged = {name: value for name, value in {**parameters, **(network or {})}.items() if name not in SHARING_ONLY}
    return json.loads(json.dumps(merged))


def device_description(device) -> dict:
    """What identifies the device a table was measured on."""
    import torch

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = _cpu_name()
    return {"type": device.type, "name": name, "threads": torch.get_num_threads(), "torch": torch.__version__}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fit_scale(sums: list[float], measured: list[float]) -> float:
    """The scale of `measured ~ scale * sums` by least squares through the origin; 1 with no networks
    (or only empty sums), where there is nothing to fit."""
    x, y = np.asarray(sums, dtype=float), np.asarray(measured, dtype=float)
    norm = float(x @ x)
    return float(x @ y) / norm if norm > 0 else 1.0


class LatencyModel:
    """Predicts a network's latency (ms) from a latency table; see the module docstring."""

    def __init__(self, table: dict):
        self.table = table
        self.space_name = table["space"]
        self.network = full_settings(self.space_name, table["network"])  # a setting newer than the table: its default
        self.spec = block_spec(self.space_name, self.network)
        self.space = self.spec.space
        self.blocks = table["blocks"]
        self.fixed_ms = float(sum(table["fixed"].values()))
        self.scale = float(table["correction"]["scale"])
        self._cache: dict[Arch, float] = {}

    @classmethod
    def load(cls, path) -> LatencyModel:
        return cls(read_table(path))

    def require(self, space: str | None = None, network: dict | None = None, batch_size: int | None = None,
                device: dict | None = None) -> None:
        """UserError (one line) if the table was measured for another space, network size, batch size or
        device (each checked only when given; `device` is compared on type, name and threads)."""
        where = f"latency table ({self.space_name}, batch {self.table['batch_size']}, {self.table['device']['name']})"
        if space is not None and space != self.space_name:
            raise UserError(f"{where} was measured for space {self.space_name}, not {space}")
        if network is not None:
            wanted = full_settings(space or self.space_name, network)
            differ = sorted(k for k in set(wanted) | set(self.network) if wanted.get(k) != self.network.get(k))
            if differ:
                name = differ[0]
                raise UserError(f"{where} was measured for {name}={self.network.get(name)!r}, not {wanted.get(name)!r}")
        if batch_size is not None and batch_size != self.table["batch_size"]:
            raise UserError(f"{where} was measured at batch size {self.table['batch_size']}, not {batch_size}")
        if device is not None:
            for field in ("type", "name", "threads"):
                if device.get(field) != self.table["device"].get(field):
                    raise UserError(f"{where} was measured with device {field} {self.table['device'].get(field)!r}, "
                                    f"not {device.get(field)!r}")

    def block_sum(self, arch: Arch) -> float:
        """Milliseconds of the architecture's blocks plus the fixed parts, before the correction."""
        total = self.fixed_ms
        for block in self.spec.arch_blocks(self.space.validate(arch)):
            ms = self.blocks.get(block.key)
            if ms is None:
                raise UserError(f"latency table has no entry for block {block.key} (measured for another network?)")
            total += ms
        return total

    def predict(self, arch: Arch) -> float:
        """Predicted milliseconds of one forward pass of a batch through `arch`'s network."""
        arch = tuple(int(c) for c in arch)
        if arch not in self._cache:
            self._cache[arch] = self.scale * self.block_sum(arch)
        return self._cache[arch]

    def cost(self, arch: Arch) -> float:
        """The budget's cost function: `predict`."""
        return self.predict(arch)


def measure_table(space: str, network: dict | None, batch_size: int, device: str, protocol,
                  calibrate: int = 8, seed: int = 0, log: Callable[[str], None] = lambda _: None) -> dict:
    """Time every block and fixed part of `space` at `network` size, fit the correction on `calibrate`
    random whole networks, and return the table (see `samplenas.hardware.table` for its fields)."""
    import torch

    from samplenas.hardware.timing import forward_call, time_calls
    from samplenas.supernet.factory import make_supernet

    settings = full_settings(space, network)
    supernet = make_supernet(space, settings)  # checks the settings' values before any timing
    target = torch.device(device)
    spec = block_spec(space, settings)
    blocks, fixed = spec.table_blocks(), spec.fixed_parts()
    log(f"{space}: {len(blocks)} blocks and {len(fixed)} fixed parts on {device}, batch {batch_size}")
    calls = {block.key: forward_call(*spec.make(block), batch_size, target) for block in blocks + fixed}
    times = time_calls(calls, protocol, target)
    table = {
        "format": FORMAT, "version": VERSION, "space": space, "network": settings, "batch_size": batch_size,
        "device": device_description(target), "protocol": protocol.describe(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "blocks": {block.key: times[block.key] for block in blocks},
        "fixed": {block.key: times[block.key] for block in fixed},
        "correction": {"scale": 1.0, "networks": 0},
    }
    if calibrate:
        log(f"{space}: timing {calibrate} whole networks to fit the correction")
        model = LatencyModel(table)
        rng = np.random.default_rng(seed)
        archs = [model.space.sample(rng) for _ in range(calibrate)]
        shape = tuple(supernet.input_shape)
        networks = {str(i): forward_call(supernet.build(arch), [shape], batch_size, target)
                    for i, arch in enumerate(archs)}
        measured = time_calls(networks, protocol, target)
        sums = [model.block_sum(arch) for arch in archs]
        whole = [measured[str(i)] for i in range(len(archs))]
        table["correction"] = {"scale": fit_scale(sums, whole), "networks": len(archs), "sum_ms": sums,
                               "measured_ms": whole}
    return table
