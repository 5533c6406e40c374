"""The sampler contract: propose architectures, learn from scores, resume exactly.

Every sampler owns one `numpy.random.Generator` seeded at construction; learned samplers add a
`torch.Generator`. `state_dict()` holds plain Python values and tensors only (so it saves with
`torch.save` and loads with `torch.load(weights_only=True)`), and `load_state_dict` restores the
random streams, so a resumed run proposes exactly what the uninterrupted run would have.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from samplenas.errors import UserError
from samplenas.samplers.budget import Budget
from samplenas.spaces.base import Arch, SearchSpace


class Sampler(ABC):
    """Proposes architectures of `space`; `observe` feeds back scores (higher is better).

    `constrain(budget)` makes every proposal fall within a `Budget`: each sampler takes its draws
    through `draw_admitted` (rejection, bounded by the budget's tries) or checks `admissible`
    where it chooses among candidates itself. Without a budget nothing changes, to the random stream.
    """

    name: str = ""
    budget: Budget | None = None

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

    # --- budget --------------------------------------------------------------------------------
    def constrain(self, budget: Budget | None) -> Sampler:
        """Propose only architectures `budget` admits (None or an empty budget: no limit); returns self.
        Samplers that draw from others hand the budget on."""
        self.budget = budget if budget else None
        return self

    def admissible(self, arch: Sequence[int]) -> bool:
        """Valid and within the budget (an invalid architecture is never costed)."""
        if not self.space.is_valid(arch):
            return False
        return self.budget is None or self.budget.admits(arch)

    def draw_admitted(self, draw: Callable[[], Arch], source: str) -> Arch:
        """`draw()` itself without a budget; otherwise its first admitted result (BudgetError if none)."""
        if self.budget is None:
            return draw()
        return self.budget.draw(draw, f"the {self.name} sampler's {source}")

    def draw_uniform(self, n: int) -> list[Arch]:
        """`n` draws from the space's uniform law over valid architectures, conditioned on the budget."""
        return [self.draw_admitted(lambda: self.space.sample_uniform(self.rng), "uniform draws") for _ in range(n)]

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
