"""How `search` and `rank` score an architecture of a trained run: the supernet, a zero-cost proxy, or
a rank average of several.

`--scorer supernet` (the default) is the run's supernet accuracy after BN recalibration;
`--scorer synflow` (any of `ZERO_COST_PROXIES`) scores the freshly initialised network with no training;
`--scorer supernet+synflow` averages the parts' positions within a fixed reference sample of uniformly
drawn architectures (each part's empirical distribution over `reference` cells, scored once), so a
score does not depend on which other architectures a search happens to visit.
"""

from __future__ import annotations

import numpy as np

from samplenas.errors import UserError
from samplenas.spaces.base import Arch
from samplenas.training.choices import SCORER_PARTS
from samplenas.training.zero_cost import ZeroCostScorer, proxy_batch, within

REFERENCE_CELLS = 32


def scorer_parts(text: str) -> list[str]:
    """The parts of a scorer name such as "supernet+synflow", checked."""
    parts = [part.strip() for part in str(text).split("+")]
    unknown = [part for part in parts if part not in SCORER_PARTS]
    if unknown or not parts:
        raise UserError(f"unknown scorer {unknown[0] if unknown else text!r}; valid: {', '.join(SCORER_PARTS)} "
                        "or several joined by '+' (a rank average)")
    if len(set(parts)) != len(parts):
        raise UserError(f"scorer {text!r} names a part twice")
    return parts


class RunScorer:
    """`score(arch)` -> {"score": higher is better, plus each part's own metrics} for a trained run."""

    def __init__(self, trainer, text: str = "supernet", reference: int = REFERENCE_CELLS, seed: int = 0):
        self.name = "+".join(scorer_parts(text))
        self.trainer = trainer
        self.parts = {}
        for part in self.name.split("+"):
            if part == "supernet":
                self.parts[part] = trainer.score
            else:
                batch = proxy_batch(trainer.data.train, min(64, len(trainer.data.train)), seed)
                self.parts[part] = ZeroCostScorer(part, trainer.supernet, trainer.task, batch, seed).score
        self.reference: dict[str, list[float]] = {}
        if len(self.parts) > 1:
            rng = np.random.default_rng([seed, 29])
            cells = [trainer.space.sample_uniform(rng) for _ in range(reference)]
            self.reference = {part: [score(arch)["score"] for arch in cells] for part, score in self.parts.items()}

    @property
    def single(self) -> bool:
        return len(self.parts) == 1

    def score(self, arch: Arch) -> dict:
        if self.single:
            return next(iter(self.parts.values()))(arch)
        metrics = {}
        positions = []
        for part, score in self.parts.items():
            result = score(arch)
            metrics.update({f"{part}_{k}" if part == "supernet" else k: v for k, v in result.items() if k != "score"})
            positions.append(within([result["score"]], self.reference[part])[0])
        return {"score": float(np.mean(positions)), **metrics}

