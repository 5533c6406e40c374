"""How `search` and `rank` score an architecture of a trained run: the supernet, a zero-cost proxy, or
a rank average of several.

`--scorer supernet` (the default) is the run's supernet accuracy after BN recalibration, `supernet-loss` minus
its validation loss on the same images (a finer signal than the fraction right: on NB101 it ranks cells better);
`supernet-detrended` and `supernet-loss-detrended` take out the supernet's linear trend in the operation count;
`--scorer synflow` (any of `ZERO_COST_PROXIES`) scores the freshly initialised network with no training;
`--scorer standalone` trains each architecture alone for a few hundred steps (`training.standalone`: seconds
each, for a search's finalists);
`--scorer supernet+synflow` averages the parts' positions within a fixed reference sample of uniformly
drawn architectures (each part's empirical distribution over `reference` cells, scored once), so a
score does not depend on which other architectures a search happens to visit;
`--scorer 0.2*supernet+0.8*params` weights those positions (a learned combination:
`samplenas fit-scorer` fits the weights on labelled cells, `training.scorer_weights`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from samplenas.errors import UserError
from samplenas.spaces.base import Arch
from samplenas.training.choices import (
    REFERENCE_CELLS,
    SCORER_PARTS,
    STANDALONE_DOWNSCALE,
    STANDALONE_STEPS,
    SUPERNET_SCORERS,
)
from samplenas.training.scorer_weights import weighted_name
from samplenas.training.standalone import StandaloneScorer
from samplenas.training.zero_cost import ZeroCostScorer, proxy_batch, within

DETRENDED = "-detrended"  # a supernet part's suffix: its trend in the operation count taken out


class UnknownScorer(UserError):
    """A scorer name with a part that is not a scorer; `part` says which, for callers that word it their way."""

    def __init__(self, message: str, part: str):
        super().__init__(message)
        self.part = part


def scorer_weights(text: str, valid: Sequence[str] = SCORER_PARTS) -> dict[str, float]:
    """{part: weight} of a scorer name, checked: "supernet+synflow" weights its parts equally (a rank
    average), "0.2*supernet+0.8*params" as given (normalised to sum to one). `valid`: the part names
    allowed (studies that score several supernets name them their own way)."""
    weights = {}
    terms = [term.strip() for term in str(text).split("+")]
    weighted = ["*" in term for term in terms]
    if any(weighted) and not all(weighted):
        raise UserError(f"scorer {text!r}: give every part a weight (W*part) or none")
    for term in terms:
        factor, _, part = term.rpartition("*")
        part = part.strip()
        if part not in valid:
            raise UnknownScorer(f"unknown scorer {part!r}; valid: {', '.join(valid)}, or several joined by '+' "
                                "(a rank average; W*part for a weighted one)", part)
        if part in weights:
            raise UserError(f"scorer {text!r} names a part twice")
        try:
            weights[part] = float(factor) if factor else 1.0
        except ValueError:
            raise UserError(f"scorer {text!r}: weight {factor.strip()!r} of {part} is not a number") from None
        if not np.isfinite(weights[part]) or weights[part] < 0:
            raise UserError(f"scorer {text!r}: weights must be finite and >= 0")
    total = sum(weights.values())
    if total <= 0:
        raise UserError(f"scorer {text!r}: the weights sum to zero")
    return {part: weight / total for part, weight in weights.items()}


def scorer_parts(text: str) -> list[str]:
    """The parts of a scorer name such as "supernet+synflow" or "0.2*supernet+0.8*params", checked."""
    return list(scorer_weights(text))


def scorer_name(text: str) -> str:
    """The canonical name: parts joined by '+' for a rank average, with their normalised weights otherwise."""
    weights = scorer_weights(text)
    if "*" not in str(text):
        return "+".join(weights)
    return weighted_name({part: round(weight, 6) for part, weight in weights.items()})


def standalone_setting(text: str | None, steps: int, downscale: int = STANDALONE_DOWNSCALE) -> dict:
    """{"standalone_steps": steps} (and "standalone_downscale" when the images are downscaled) where scorer `text`
    trains architectures alone (a "standalone" part), else {}: what a report records beside the scorer's name."""
    if text is None or "standalone" not in scorer_parts(text):
        return {}
    return {"standalone_steps": steps, **({} if downscale == 1 else {"standalone_downscale": downscale})}


def minus_loss(metrics: dict) -> dict:
    """A supernet score's metrics scored by minus their validation loss (higher is better)."""
    return {**metrics, "score": -float(metrics["loss"])}


def reference_cells(space, count: int = REFERENCE_CELLS, seed: int = 0) -> list[Arch]:
    """The fixed uniform sample a scorer measures positions and trends over (the same for every scorer of a
    seed, so a score does not depend on which architectures a search visits)."""
    rng = np.random.default_rng([seed, 29])
    return [space.sample_uniform(rng) for _ in range(count)]


def operation_trend(counts: Sequence[float], scores: Sequence[float]) -> float:
    """The least-squares slope of `scores` against operation `counts`: what a detrended scorer takes out per
    operation (0 where every count is the same, as in spaces of fixed size)."""
    counts = np.asarray(counts, dtype=np.float64)
    if np.ptp(counts) == 0:
        return 0.0
    return float(np.polyfit(counts, np.asarray(scores, dtype=np.float64), 1)[0])


def detrended(score, space, trend: float):
    """`score` less `trend` times the architecture's operation count, which its metrics report."""
    def score_detrended(arch: Arch) -> dict:
        operations = space.operation_count(arch)
        result = score(arch)
        return {**result, "score": float(result["score"]) - trend * operations, "operations": operations}
    return score_detrended


class RunScorer:
    """`score(arch)` -> {"score": higher is better, plus each part's own metrics} for a trained run.

    A "-detrended" supernet part takes out the supernet's linear trend in the operation count, fitted over
    the reference sample without labels (`trends`: the slope per part): on NB101 the supernet scores cells
    of more vertices lower than the table does, and its order among cells of equal size is the better one.
    Detrended, it ranks random cells better (about +0.05 τ) but picks no better, so no default uses it
    (docs/results/nb101-remedies.md).
    """

    def __init__(self, trainer, text: str = "supernet", reference: int = REFERENCE_CELLS, seed: int = 0,
                 standalone_steps: int = STANDALONE_STEPS, standalone_downscale: int = STANDALONE_DOWNSCALE):
        """`standalone_steps`: how long the "standalone" part trains each architecture alone;
        `standalone_downscale`: on the run's images with their side divided by it."""
        self.name = scorer_name(text)
        self.standalone_steps, self.standalone_downscale = standalone_steps, standalone_downscale
        named = scorer_weights(text)
        self.weights = {part: w for part, w in named.items() if w > 0}  # a weight of 0 costs nothing
        self.trainer = trainer
        self._batch = None
        evaluate = functools.lru_cache(maxsize=1)(trainer.score)  # both supernet parts of a cell: one evaluation
        raw = {part: self._raw_part(part.removesuffix(DETRENDED), evaluate, seed) for part in self.weights}
        self.trends: dict[str, float] = {}
        self.reference: dict[str, list[float]] = {}
        if len(named) > 1 or any(part.endswith(DETRENDED) for part in raw):
            space = trainer.space
            cells = reference_cells(space, reference, seed)
            counts = [space.operation_count(arch) for arch in cells]
            rows = [{part: score(arch)["score"] for part, score in raw.items()} for arch in cells]  # cell by cell
            scored = {part: [row[part] for row in rows] for part in raw}
            self.trends = {part: operation_trend(counts, values) for part, values in scored.items()
                           if part.endswith(DETRENDED)}
            if len(named) > 1:  # positions, even where one weighted part is left
                self.reference = {part: [v - self.trends.get(part, 0.0) * c for v, c in zip(values, counts)]
                                  for part, values in scored.items()}
        self.parts = {part: detrended(score, trainer.space, self.trends[part]) if part in self.trends else score
                      for part, score in raw.items()}

    def _raw_part(self, part: str, evaluate, seed: int):
        """score(arch) -> metrics of one part before any detrending."""
        if part == "supernet":
            return lambda arch: dict(evaluate(arch))
        if part == "supernet-loss":
            return lambda arch: minus_loss(evaluate(arch))
        if part == "standalone":
            return StandaloneScorer(self.trainer, self.standalone_steps, downscale=self.standalone_downscale).score
        if self._batch is None:  # every zero-cost part scores on the same fixed minibatch: drawn once
            self._batch = proxy_batch(self.trainer.data.train, min(64, len(self.trainer.data.train)), seed)
        return ZeroCostScorer(part, self.trainer.supernet, self.trainer.task, self._batch, seed).score

    @property
    def single(self) -> bool:
        """One scorer named alone: its own score, not a position (the same ranking, and its own units)."""
        return not self.reference

    def score(self, arch: Arch) -> dict:
        if self.single:
            return next(iter(self.parts.values()))(arch)
        positions, metrics = self.positions(arch)
        return {"score": float(sum(self.weights[part] * p for part, p in positions.items())), **metrics}

    def positions(self, arch: Arch) -> tuple[dict[str, float], dict]:
        """Each part's position within the reference sample (what the weights combine), and its metrics."""
        positions, metrics = {}, {}
        for part, score in self.parts.items():
            result = score(arch)
            metrics.update({f"supernet_{k}" if part in SUPERNET_SCORERS else k: v  # one evaluation's metrics
                            for k, v in result.items() if k != "score"})
            positions[part] = within([result["score"]], self.reference[part])[0]
        return positions, metrics

