"""The modular autoencoder space of Hajewski & Oliveira, "Distributed evolution of deep autoencoders"
(shared/papers/evolving-autoencoders-distributed.txt; code: github.com/j-haj/brokered-deep-learning).

The searched part is one *layer module*: 1..L sequential layers, each a zero-padded conv
(kernel 1/3/5/7, 8/16/32/64 filters) or a 2-D dropout layer with p = 0.5 -- 17 options a layer.
The number of reduction modules (1x1 conv doubling the channels, then 2x2 max-pool; mirrored by
dilation modules in the decoder) is a fixed setting of the space, not searched.

Encoding: position i holds layer i + 1; 0 = empty (only as a trailing run, and at least one
layer), 1..16 = conv with kernel KERNELS[(c-1)//4] and FILTERS[(c-1)%4], 17 = dropout2d.
Readable form, as in the paper: ``5x5conv2d:16,3x3conv2d:32,dropout2d``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from samplenas.spaces.base import Arch, InvalidArchitecture, SearchSpace, SpaceSize

KERNELS = (1, 3, 5, 7)
FILTERS = (8, 16, 32, 64)
EMPTY = 0
DROPOUT = len(KERNELS) * len(FILTERS) + 1  # 17
NUM_LAYER_CHOICES = DROPOUT  # non-empty options per position
DROPOUT_P = 0.5  # the paper: "a 2D dropout layer with dropout probability p = 0.5"
DROPOUT_NAME = "dropout2d"
# Two reduction modules: the paper's manifold-learning runs use 2 and 3; 2 keeps 28x28 MNIST whole
# (28 -> 14 -> 7) and is the one where the paper's best module reaches its highest fitness (Table 2).
DEFAULT_NUM_REDUCTIONS = 2
DEFAULT_MAX_LAYERS = 10  # the paper: "The layer module is restricted to at most ten layers."

_CONV_TEXT = re.compile(r"^(\d+)x(\d+)conv2d(?::(.*))?$")


@dataclass(frozen=True)
class Layer:
    """One layer of the module: a conv (kernel, filters) or dropout (kernel = filters = None)."""

    kernel: int | None = None
    filters: int | None = None

    @property
    def is_conv(self) -> bool:
        return self.kernel is not None

    @staticmethod
    def from_choice(choice: int) -> Layer:
        if choice == DROPOUT:
            return Layer()
        if not 1 <= choice < DROPOUT:
            raise InvalidArchitecture(f"autoencoder: {choice} is not a layer choice (1..{DROPOUT})")
        return Layer(KERNELS[(choice - 1) // len(FILTERS)], FILTERS[(choice - 1) % len(FILTERS)])

    @property
    def choice(self) -> int:
        if not self.is_conv:
            return DROPOUT
        return 1 + KERNELS.index(self.kernel) * len(FILTERS) + FILTERS.index(self.filters)

    def __str__(self) -> str:
        return f"{self.kernel}x{self.kernel}conv2d:{self.filters}" if self.is_conv else DROPOUT_NAME


LAYER_NAMES = tuple(str(Layer.from_choice(c)) for c in range(1, DROPOUT + 1))


class AutoencoderSpace(SearchSpace):
    """A sequential layer module of 1..max_layers layers, with a fixed number of reductions."""

    name = "autoencoder"

    def __init__(self, max_layers: int = DEFAULT_MAX_LAYERS, num_reductions: int = DEFAULT_NUM_REDUCTIONS):
        if max_layers < 1:
            raise ValueError(f"max_layers must be >= 1, got {max_layers}")
        if num_reductions < 0:
            raise ValueError(f"num_reductions must be >= 0, got {num_reductions}")
        self.max_layers = int(max_layers)
        self.num_reductions = int(num_reductions)
        self.dims = (NUM_LAYER_CHOICES + 1,) * self.max_layers

    # --- structure -------------------------------------------------------------------------
    def position_names(self) -> list[str]:
        return [f"layer{i + 1}" for i in range(self.max_layers)]

    def choice_names(self, position: int) -> list[str]:
        return ["empty", *LAYER_NAMES]

    def size(self) -> SpaceSize:
        return SpaceSize(sum(NUM_LAYER_CHOICES**n for n in range(1, self.max_layers + 1)), True)

    def layers(self, arch: Sequence[int]) -> list[Layer]:
        """The module's layers in order (validates first)."""
        return [Layer.from_choice(c) for c in self.validate(arch) if c != EMPTY]

    # --- validity --------------------------------------------------------------------------
    def validate(self, arch: Sequence[int]) -> Arch:
        values = self.check_encoding(arch)
        length = _module_length(values)
        if length == 0:
            raise InvalidArchitecture(f"{self.name}: no layers; the module needs at least one non-empty layer")
        gap = next((i for i in range(length) if values[i] == EMPTY), None)
        if gap is not None:
            raise InvalidArchitecture(
                f"{self.name}: layer {gap + 1} is empty but layer {length} is not; "
                "empty layers may only form a trailing run"
            )
        return values

    # --- sampling and variation -----------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """The paper's random-search rule: length ~ U{1..L}; each layer's type uniform over the five
        types (four conv kernels, dropout) and a conv's filter count uniform over the four counts.
        So dropout has probability 1/5 per layer and each conv option 1/20 (not uniform over 17)."""
        length = int(rng.integers(1, self.max_layers + 1))
        return self._pad([self._random_layer(rng) for _ in range(length)])

    def sample_uniform(self, rng: np.random.Generator) -> Arch:
        """Uniform over the distinct valid architectures: length n with weight 17^n, then each layer
        uniform over the 17 options."""
        weights = np.array([float(NUM_LAYER_CHOICES) ** n for n in range(1, self.max_layers + 1)])
        length = 1 + int(rng.choice(self.max_layers, p=weights / weights.sum()))
        return self._pad(rng.integers(1, NUM_LAYER_CHOICES + 1, size=length).tolist())

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Algorithm 3 (MutateGenotype): below L layers, with probability 1/2 append a random layer;
        otherwise replace a uniformly chosen layer by a random one. Unlike the paper the replacement
        is redrawn until it differs from the old layer, so a mutation never returns its parent."""
        layers = self._active(arch)
        if len(layers) < self.max_layers and rng.random() < 0.5:
            layers.append(self._random_layer(rng))
        else:
            index = int(rng.integers(len(layers)))
            old = layers[index]
            while layers[index] == old:
                layers[index] = self._random_layer(rng)
        return self._pad(layers)

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Algorithm 3 (Crossover): a[:i] + b[j:] with i ~ U{0..|a|-1}, j ~ U{0..|b|-1}, truncated to
        L layers. b[j:] is never empty, so the child always has a layer."""
        first, second = self._active(a), self._active(b)
        i = int(rng.integers(len(first)))
        j = int(rng.integers(len(second)))
        return self._pad((first[:i] + second[j:])[: self.max_layers])

    # --- text ------------------------------------------------------------------------------
    def to_str(self, arch: Arch) -> str:
        return ",".join(str(layer) for layer in self.layers(arch))

    def from_str(self, text: str) -> Arch:
        tokens = [token.strip() for token in text.strip().split(",")]
        if tokens == [""]:
            raise InvalidArchitecture(f"{self.name}: empty architecture string; expected e.g. 5x5conv2d:16,dropout2d")
        if len(tokens) > self.max_layers:
            raise InvalidArchitecture(f"{self.name}: {len(tokens)} layers, at most {self.max_layers} allowed")
        return self._pad([_parse_layer(token, position).choice for position, token in enumerate(tokens, 1)])

    # --- helpers ---------------------------------------------------------------------------
    def _active(self, arch: Arch) -> list[int]:
        return [c for c in self.validate(arch) if c != EMPTY]

    def _pad(self, choices: Sequence[int]) -> Arch:
        return tuple(int(c) for c in choices) + (EMPTY,) * (self.max_layers - len(choices))

    @staticmethod
    def _random_layer(rng: np.random.Generator) -> int:
        """One layer by the paper's rule: type uniform over 4 kernels + dropout, then filters."""
        kind = int(rng.integers(len(KERNELS) + 1))
        if kind == len(KERNELS):
            return DROPOUT
        return 1 + kind * len(FILTERS) + int(rng.integers(len(FILTERS)))


def _module_length(values: Sequence[int]) -> int:
    """Index one past the last non-empty position."""
    return max((i + 1 for i, v in enumerate(values) if v != EMPTY), default=0)


def _parse_layer(token: str, position: int) -> Layer:
    where = f"autoencoder: layer {position} {token!r}"
    if token == DROPOUT_NAME:
        return Layer()
    if token.startswith(DROPOUT_NAME):
        raise InvalidArchitecture(f"{where}: {DROPOUT_NAME} takes no kernel or filter count")
    match = _CONV_TEXT.match(token)
    if match is None:
        raise InvalidArchitecture(
            f"{where}: unknown layer type; expected KxKconv2d:F (K in {_listed(KERNELS)}, "
            f"F in {_listed(FILTERS)}) or {DROPOUT_NAME}"
        )
    height, width, filters = match.groups()
    if height != width or int(height) not in KERNELS:
        raise InvalidArchitecture(f"{where}: kernel {height}x{width} not allowed; use KxK with K in {_listed(KERNELS)}")
    if filters is None or not filters.isdigit() or int(filters) not in FILTERS:
        raise InvalidArchitecture(f"{where}: filter count must be one of {_listed(FILTERS)}")
    return Layer(int(height), int(filters))


def _listed(values: Sequence[int]) -> str:
    return "/".join(map(str, values))
