"""Uniform sampling over valid architectures (SPOS, Guo et al. 2019): the baseline every learned
sampler is compared with."""

from __future__ import annotations

from samplenas.samplers.base import Sampler
from samplenas.spaces.base import Arch, SearchSpace


class UniformSampler(Sampler):
    """Each architecture drawn independently by `space.sample_uniform`; feedback is ignored. Under a
    budget: uniform over the admitted architectures (rejection keeps uniformity)."""

    name = "uniform"

    def __init__(self, space: SearchSpace, seed: int = 0):
        super().__init__(space, seed)

    def sample(self, n: int) -> list[Arch]:
        return self.draw_uniform(self.check_count(n))
