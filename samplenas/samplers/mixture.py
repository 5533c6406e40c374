"""VAENAS Algorithm 2's sampling distribution: Γ = (1 − ε)·U + ε·p_θ, exploitation ε growing over time.

Each architecture comes from the learned inner sampler with probability ε, else uniformly. ε starts
at `epsilon` and rises by `epsilon_inc` per step, capped at `epsilon_max`. A step is one call of
`sample()` (one supernet iteration draws its batch with one call) unless `auto_step=False`, in
which case call `step()` yourself. `observe()` forwards to the inner sampler (which trains on it).
"""

from __future__ import annotations

from samplenas.errors import UserError
from samplenas.samplers.wrapping import WrappingSampler
from samplenas.spaces.base import Arch, SearchSpace


def ramp_increment(fraction: float, steps: int, epsilon: float = 0.0, epsilon_max: float = 1.0) -> float:
    """The `epsilon_inc` that takes epsilon from `epsilon` to `epsilon_max` over `fraction` of `steps` steps,
    so one schedule reads the same whatever the run's length."""
    if not 0.0 < fraction <= 1.0 or steps < 1:
        raise UserError(f"mixture: the ramp needs 0 < fraction <= 1 and steps >= 1, got {fraction}, {steps}")
    return (epsilon_max - epsilon) / (fraction * steps)


class MixtureSampler(WrappingSampler):
    """Options: inner (a registered learned sampler name, default "vae"), inner_options (dict),
    epsilon, epsilon_inc, epsilon_max, auto_step."""

    name = "mixture"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        inner: str = "vae",
        inner_options: dict | None = None,
        epsilon: float = 0.0,
        epsilon_inc: float = 0.01,
        epsilon_max: float = 1.0,
        auto_step: bool = True,
    ):
        super().__init__(space, seed, inner, inner_options, refused=("fair",),
                         wanted="a learned sampler (vae, gumbel, multinomial, evolution)")
        if not 0.0 <= epsilon <= epsilon_max <= 1.0 or epsilon_inc < 0:
            raise UserError("mixture: need 0 <= epsilon <= epsilon_max <= 1 and epsilon_inc >= 0")
        self.epsilon, self.epsilon_inc, self.epsilon_max = float(epsilon), float(epsilon_inc), float(epsilon_max)
        self.auto_step = bool(auto_step)

    def step(self) -> None:
        """Algorithm 2, line 11: ε ← ε + ε_inc (capped)."""
        self.epsilon = min(self.epsilon_max, self.epsilon + self.epsilon_inc)

    def sample(self, n: int) -> list[Arch]:
        learned = self.rng.random(self.check_count(n)) < self.epsilon
        from_inner = iter(self.inner.sample(int(learned.sum())))
        out = [next(from_inner) if use else self.draw_uniform(1)[0] for use in learned]
        if self.auto_step:
            self.step()
        return out

    def state_dict(self) -> dict:
        return {**super().state_dict(), "epsilon": self.epsilon}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.epsilon = float(state["epsilon"])
