"""The supernet contract: run one path of shared weights, extract it, or build it afresh."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from samplenas.spaces.base import Arch, SearchSpace
from samplenas.supernet.cost import count_cost, count_params


class Supernet(nn.Module, ABC):
    """One network holding the weights of every architecture in `space`.

    Subclasses set `space` and `input_shape` (C, H, W) and implement `forward`, `extract`
    and `build`; `cost` is derived from `build` and cached by the architecture's key.

    `SEARCH_AIDS` names settings that change only how the shared weights train, not the architecture
    searched, each with the value the architecture's own network has: the supernet ranks architectures
    with them; costs, zero-cost proxies, latency budgets and retraining take the network without them.
    """

    space: SearchSpace
    input_shape: tuple[int, int, int]
    SEARCH_AIDS: dict = {}

    def __init__(self) -> None:
        super().__init__()
        self._cost_cache: dict[str, dict] = {}
        self._params_cache: dict[str, int] = {}

    @abstractmethod
    def forward(self, x: torch.Tensor, arch: Arch, gates: torch.Tensor | None = None) -> torch.Tensor:
        """Run only the chosen path. `gates`: one weight per position, multiplied (straight
        through) into that position's output so a sampler's logits receive gradients."""

    @abstractmethod
    def extract(self, arch: Arch) -> nn.Module:
        """A standalone module computing the same function with (copies of) the shared weights."""

    @abstractmethod
    def build(self, arch: Arch) -> nn.Module:
        """The same network as `extract(arch)`, freshly initialised, for retraining from scratch."""

    @classmethod
    def deployed_settings(cls, settings: dict) -> dict:
        """`settings` with the search aids at the values the architecture's own network has."""
        return {name: cls.SEARCH_AIDS.get(name, value) for name, value in settings.items()}

    def deployed_network(self, arch: Arch) -> nn.Module:
        """The network a user deploys, freshly initialised: `build(arch)` unless a space drops training-only
        parts or search aids. `cost` counts it and zero-cost proxies score it."""
        return self.build(arch)

    def cost(self, arch: Arch) -> dict:
        """{"params": trainable parameters, "macs": multiply-adds} of `deployed_network(arch)` at `input_shape`.
        Built under a forked random stream: budgets cost cells lazily and a resumed run starts with an
        empty cache, so the initialisation must not consume the stream training draws dropout from."""
        key = self.space.key(arch)
        if key not in self._cost_cache:
            with torch.random.fork_rng(devices=[]):
                self._cost_cache[key] = count_cost(self.deployed_network(arch), self.input_shape)
        return dict(self._cost_cache[key])

    def param_count(self, arch: Arch) -> int:
        """`cost(arch)["params"]` without the multiply-adds, counted on a network built on the meta device
        (shapes only: no memory, no initialisation, no forward pass, which dominates `cost` at full size):
        what drawing many cells into a parameter band needs. Cached by the architecture's key."""
        key = self.space.key(arch)
        if key not in self._params_cache:
            with torch.random.fork_rng(devices=[]), torch.device("meta"):
                self._params_cache[key] = count_params(self.deployed_network(arch))
        return self._params_cache[key]
