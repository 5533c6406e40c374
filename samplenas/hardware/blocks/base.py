"""What a latency table measures: the building blocks of one space at one network size.

A `Block` is one piece of a network whose latency is measured alone, keyed by where it sits
(`slot`), what was chosen there (`choice`) and the shape it receives (`input_shape`, per sample);
blocks whose key is equal cost the same, so a table stores each key once. A `BlockSpec` knows, for
one space and its network settings:

* `table_blocks()`: every block any architecture of the space can contain (what to measure);
* `arch_blocks(arch)`: the blocks of one architecture, repeated as often as they occur;
* `fixed_parts()`: the pieces every architecture has (stem, classifier, ...), the network's fixed
  overhead;
* `make(block)`: a fresh module computing that block and the per-sample shapes of its inputs.

The decomposition needs no network to be built, so predicting a latency is cheap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from samplenas.spaces.base import Arch, SearchSpace

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Block:
    slot: str
    choice: str
    input_shape: Shape

    @property
    def key(self) -> str:
        return f"{self.slot}|{self.choice}|{'x'.join(map(str, self.input_shape))}"


class BlockSpec(ABC):
    """The blocks of one space at one network size (see the module docstring); `space` is the
    SearchSpace the settings make (architectures are validated against it)."""

    space_name: str = ""
    space: SearchSpace

    @abstractmethod
    def table_blocks(self) -> list[Block]:
        """Every block an architecture of the space can contain."""

    @abstractmethod
    def arch_blocks(self, arch: Arch) -> list[Block]:
        """The blocks of a validated `arch`, with repetition."""

    @abstractmethod
    def fixed_parts(self) -> list[Block]:
        """The pieces every architecture runs, whatever it chose."""

    @abstractmethod
    def make(self, block: Block):
        """(module, input shapes): a fresh module computing `block` and the per-sample shape of each of its inputs."""


class Add(nn.Module):
    """The addition of two inputs, as a module so it can be timed like any block."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class Concat(nn.Module):
    """Channel concatenation of any number of inputs, as a module so it can be timed like any block."""

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        return torch.cat(parts, dim=1)


def unique(blocks: Sequence[Block]) -> list[Block]:
    """`blocks` without repeated keys, in first-seen order."""
    seen: dict[str, Block] = {}
    for block in blocks:
        seen.setdefault(block.key, block)
    return list(seen.values())
