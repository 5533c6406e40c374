"""A whole samplenas plugin in one file: a search space, its weight-sharing supernet and a sampler.

The space: a chain of `depth` layers, each one of conv3x3, conv5x5 or skip; valid when at least one
layer is a convolution. The supernet holds every op of every layer and runs the chosen one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from samplenas.samplers.base import Sampler
from samplenas.spaces.base import Arch, InvalidArchitecture, SearchSpace
from samplenas.supernet.base import Supernet

OPS = ("conv3x3", "conv5x5", "skip")
SKIP = OPS.index("skip")


class ToySpace(SearchSpace):
    name = "toy"

    def __init__(self, depth: int = 3):
        self.depth = depth
        self.dims = (len(OPS),) * depth

    def choice_names(self, position: int) -> list[str]:
        return list(OPS)

    def size(self) -> tuple[int, bool]:
        return len(OPS) ** self.depth - 1, True  # everything but all-skip

    def validate(self, arch) -> Arch:
        values = self.check_encoding(arch)
        if all(v == SKIP for v in values):
            raise InvalidArchitecture(f"{self.name}: every layer is 'skip'; keep at least one convolution")
        return values

    def sample(self, rng: np.random.Generator) -> Arch:
        while True:  # rejection: uniform over the valid architectures
            arch = tuple(int(v) for v in rng.integers(len(OPS), size=self.depth))
            if self.is_valid(arch):
                return arch

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        values = list(self.validate(arch))
        while True:
            position = int(rng.integers(self.depth))
            candidate = values.copy()
            candidate[position] = int(rng.choice([c for c in range(len(OPS)) if c != values[position]]))
            if self.is_valid(candidate):
                return tuple(candidate)

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        parents = (self.validate(a), self.validate(b))
        while True:
            child = tuple(parents[int(rng.integers(2))][i] for i in range(self.depth))
            if self.is_valid(child):
                return child

    def to_str(self, arch: Arch) -> str:
        return "-".join(OPS[v] for v in self.validate(arch))

    def from_str(self, text: str) -> Arch:
        names = text.strip().split("-")
        unknown = [n for n in names if n not in OPS]
        if unknown:
            raise InvalidArchitecture(f"{self.name}: unknown op {unknown[0]!r}; valid: {', '.join(OPS)}")
        return self.validate([OPS.index(n) for n in names])


def make_op(name: str, width: int) -> nn.Module:
    if name == "skip":
        return nn.Identity()
    kernel = int(name[-1])
    return nn.Sequential(nn.Conv2d(width, width, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(width),
                         nn.ReLU())


class ToyNet(nn.Module):
    """Stem, `layers[i]` = the candidate op names of layer i, global pooling and a classifier."""

    def __init__(self, layers, width: int, num_classes: int, in_channels: int):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.layers = nn.ModuleList(nn.ModuleDict({n: make_op(n, width) for n in names}) for names in layers)
        self.head = nn.Linear(width, num_classes)

    def run(self, x: torch.Tensor, arch: Arch, gates: torch.Tensor | None = None) -> torch.Tensor:
        x = self.stem(x)
        for i, (layer, choice) in enumerate(zip(self.layers, arch)):
            out = layer[OPS[choice]](x)
            x = out if gates is None else out * gates[i]
        return self.head(x.mean(dim=(2, 3)))


class ToyNetwork(ToyNet):
    """One architecture as a standalone network: `forward(x)`."""

    def __init__(self, arch: Arch, **settings):
        super().__init__([[OPS[c]] for c in arch], **settings)
        self.arch = tuple(arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.arch)


class ToySupernet(Supernet):
    recipe = {"epochs": 2, "batch_size": 32, "lr": 0.05}  # optional: how `samplenas retrain` trains a winner

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 8, width: int = 8,
                 depth: int = 3):
        super().__init__()
        self.space = ToySpace(depth)
        self.input_shape = (in_channels, image_size, image_size)
        self.settings = {"width": width, "num_classes": num_classes, "in_channels": in_channels}
        self.net = ToyNet([OPS] * depth, **self.settings)

    def forward(self, x: torch.Tensor, arch: Arch, gates: torch.Tensor | None = None) -> torch.Tensor:
        return self.net.run(x, self.space.validate(arch), gates)

    def extract(self, arch: Arch) -> ToyNetwork:
        net = self.build(arch)
        shared = self.net.state_dict()
        net.load_state_dict({name: shared[name] for name in net.state_dict()})
        return net.train(self.training)

    def build(self, arch: Arch) -> ToyNetwork:
        return ToyNetwork(self.space.validate(arch), **self.settings)


class FirstChoiceSampler(Sampler):
    """Always proposes the architecture with the lowest valid indices, then its mutations (a toy)."""

    name = "toy-first"

    def sample(self, n: int) -> list[Arch]:
        n = self.check_count(n)
        first = self.space.validate([0] * len(self.space.dims))
        return ([first] + [self.space.mutate(first, self.rng) for _ in range(n - 1)])[:n]
