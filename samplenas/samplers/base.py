"""The sampler contract: propose architectures, learn from scores, resume exactly.

Every sampler owns one `numpy.random.Generator` seeded at construction; learned samplers add a
`torch.Generator`. `state_dict()` holds plain Python values and tensors only (so it saves with
`torch.save` and loads with `torch.load(weights_only=True)`), and `load_state_dict` restores the
random streams, so a resumed run proposes exactly what the uninterrupted run would have.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from samplenas.errors import UserError
from samplenas.spaces.base import Arch, SearchSpace


class Sampler(ABC):
    """Proposes architectures of `space`; `observe` feeds back scores (higher is better)."""

    name: str = ""

    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space = space
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    @abstractmethod
    def sample(self, n: int) -> list[Arch]:
        """`n` valid architectures."""

    def observe(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        """Feedback on evaluated architectures; fixed samplers only check it."""
        self.check_feedback(archs, scores)

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"sampler": self.name, "seed": self.seed, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        if state.get("sampler") != self.name:
            raise UserError(f"sampler state is for {state.get('sampler')!r}, not {self.name!r}")
        self.seed = int(state["seed"])
        self.rng.bit_generator.state = state["rng"]

    # --- shared checks -------------------------------------------------------------------------
    def check_count(self, n: int) -> int:
        if int(n) != n or n < 0:
            raise UserError(f"{self.name}: number of samples must be a non-negative integer, got {n!r}")
        return int(n)

    def check_feedback(self, archs: Sequence[Arch], scores: Sequence[float]) -> tuple[list[Arch], list[float]]:
        """Validated architectures and finite float scores of equal length."""
        archs = [self.space.validate(a) for a in archs]
        values = [float(s) for s in scores]
        if len(archs) != len(values):
            raise UserError(f"{self.name}: {len(archs)} architectures but {len(values)} scores")
        bad = [s for s in values if not math.isfinite(s)]
        if bad:
            raise UserError(f"{self.name}: scores must be finite, got {bad[0]}")
        return archs, values


def draw_uniform(space: SearchSpace, rng: np.random.Generator, n: int) -> list[Arch]:
    """`n` draws from the space's uniform distribution over valid architectures."""
    return [space.sample_uniform(rng) for _ in range(n)]
