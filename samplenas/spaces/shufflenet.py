"""The ShuffleNetV2-like chain space of SPOS and VAENAS (appendix A.4): 20 layers, 4 choices each.

Layers form four stages of 4, 4, 8 and 4; the first layer of each stage downsamples. Every layer
picks one of shuffle_3x3, shuffle_5x5, shuffle_7x7 or xception_3x3, so all 4^20 encodings are
valid. Variation follows SPOS (Guo et al. 2019, sec. 3.4): mutation re-draws each layer with
probability 0.1, crossover takes each layer from either parent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from samplenas.errors import UserError
from samplenas.spaces.base import Arch, InvalidArchitecture, SearchSpace, SpaceSize

STAGE_DEPTHS = (4, 4, 8, 4)
NUM_LAYERS = sum(STAGE_DEPTHS)
CHOICES = ("shuffle_3x3", "shuffle_5x5", "shuffle_7x7", "xception_3x3")
SHORT_CHOICES = ("3x3", "5x5", "7x7", "xc3")
STAGE_SEPARATOR = "|"


def stage_of_layers() -> list[tuple[int, int]]:
    """(stage, index within stage) of every layer, in encoding order."""
    return [(stage, layer) for stage, depth in enumerate(STAGE_DEPTHS) for layer in range(depth)]


class ShuffleNetSpace(SearchSpace):
    """20 independent 4-way choices (SPOS block search). Text form: short choice names, comma
    separated within a stage and `|` between stages, e.g. `3x3,5x5,7x7,xc3|...`."""

    name = "shufflenet"
    dims = (len(CHOICES),) * NUM_LAYERS

    def __init__(self, mutation_prob: float = 0.1):
        if not 0.0 < mutation_prob <= 1.0:
            raise UserError(f"shufflenet: mutation_prob must be in (0, 1], got {mutation_prob}")
        self.mutation_prob = float(mutation_prob)

    # --- structure -------------------------------------------------------------------------
    def position_names(self) -> list[str]:
        return [f"s{stage}.l{layer}" for stage, layer in stage_of_layers()]

    def choice_names(self, position: int) -> list[str]:
        return list(CHOICES)

    def size(self) -> SpaceSize:
        return SpaceSize(len(CHOICES) ** NUM_LAYERS, True)

    # --- validity --------------------------------------------------------------------------
    def validate(self, arch: Sequence[int]) -> Arch:
        return self.check_encoding(arch)  # every in-range encoding is a valid network

    # --- sampling and variation -----------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over all 4^20 architectures (SPOS uniform path sampling)."""
        return tuple(int(c) for c in rng.integers(0, len(CHOICES), NUM_LAYERS))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """SPOS mutation: each layer re-drawn uniformly with probability `mutation_prob`; when no
        layer ends up different, one random layer is given a different choice."""
        arch = self.validate(arch)
        redraw = rng.random(NUM_LAYERS) < self.mutation_prob
        fresh = rng.integers(0, len(CHOICES), NUM_LAYERS)
        child = [int(f) if r else a for a, r, f in zip(arch, redraw, fresh)]
        if tuple(child) == arch:
            layer = int(rng.integers(NUM_LAYERS))
            child[layer] = int((arch[layer] + rng.integers(1, len(CHOICES))) % len(CHOICES))
        return tuple(child)

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """SPOS crossover: each layer taken from either parent with probability 1/2."""
        a, b = self.validate(a), self.validate(b)
        from_a = rng.random(NUM_LAYERS) < 0.5
        return tuple(x if take_a else y for x, y, take_a in zip(a, b, from_a))

    # --- identity and text -----------------------------------------------------------------
    def to_str(self, arch: Arch) -> str:
        arch = self.validate(arch)
        stages, start = [], 0
        for depth in STAGE_DEPTHS:
            stages.append(",".join(SHORT_CHOICES[c] for c in arch[start : start + depth]))
            start += depth
        return STAGE_SEPARATOR.join(stages)

    def from_str(self, text: str) -> Arch:
        """Parse `to_str` output; long names (`shuffle_5x5`) are accepted too."""
        stages = text.strip().split(STAGE_SEPARATOR)
        if len(stages) != len(STAGE_DEPTHS):
            raise InvalidArchitecture(
                f"shufflenet: expected {len(STAGE_DEPTHS)} stages separated by '{STAGE_SEPARATOR}' "
                f"like '3x3,5x5,7x7,xc3|...', got {text!r}"
            )
        arch: list[int] = []
        for index, (stage, depth) in enumerate(zip(stages, STAGE_DEPTHS)):
            names = [name.strip().lower() for name in stage.split(",")]
            if len(names) != depth:
                raise InvalidArchitecture(f"shufflenet: stage {index} has {len(names)} layers, expected {depth}")
            for name in names:
                arch.append(_choice_index(name))
        return tuple(arch)


def _choice_index(name: str) -> int:
    if name in SHORT_CHOICES:
        return SHORT_CHOICES.index(name)
    if name in CHOICES:
        return CHOICES.index(name)
    raise InvalidArchitecture(
        f"shufflenet: unknown choice {name!r}; allowed: {', '.join(SHORT_CHOICES)} (or {', '.join(CHOICES)})"
    )
