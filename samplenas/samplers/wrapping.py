"""The base of samplers that draw from another sampler (the ε-mixture, the predictor and proxy filters):
the inner sampler is built, constrained, fed back and saved in one place."""

from __future__ import annotations

from collections.abc import Sequence

from samplenas.errors import UserError
from samplenas.samplers.base import Sampler
from samplenas.spaces.base import Arch, SearchSpace

INNER_SEED_OFFSET = 1  # the inner sampler gets its own stream, not a copy of the outer one's


class WrappingSampler(Sampler):
    """A sampler whose proposals start from `self.inner`'s. `refused`: inner names this one cannot wrap
    (itself always); `wanted`: how the error names the accepted ones."""

    def __init__(self, space: SearchSpace, seed: int, inner: str, inner_options: dict | None,
                 refused: tuple[str, ...] = (), wanted: str = "another registered sampler"):
        from samplenas.samplers import SAMPLERS  # the registry imports the samplers lazily

        super().__init__(space, seed)
        if inner == self.name or inner in refused or inner not in SAMPLERS:
            raise UserError(f"{self.name}: inner must be {wanted}, got {inner!r}")
        self.inner = SAMPLERS[inner](space, seed=self.seed + INNER_SEED_OFFSET, **(inner_options or {}))

    def constrain(self, budget) -> WrappingSampler:
        """The inner sampler proposes within the budget too."""
        super().constrain(budget)
        self.inner.constrain(budget)
        return self

    def observe(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        self.inner.observe(archs, scores)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.inner.load_state_dict(state["inner"])
