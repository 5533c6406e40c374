"""A proposer and a cheap predictor: many candidates drawn, the few the predictor likes queried.

VAENAS's learned sampler (Algorithm 2's ε-mixture of uniform and VAE draws) spends every query on
whatever it draws, and at a budget of 150 table queries the VAE learns too little for that to beat
regularised evolution. Here the proposer draws `pool` times more candidates than asked for, and an
ensemble of small MLPs, fitted on every (features, score) observed so far, keeps the `n` with the
highest optimistic prediction, mean + `kappa` · std over the ensemble. This is the predictor-guided
search of BANANAS (White et al. 2021) and NPENAS (Wei et al. 2022); as there, the pool can also
include `mutate_top`-many mutations per asked cell of the best observed cells (0 turns that off and
leaves the proposer alone in charge of what is considered).

The predictor learns from `space.features` (NB101: the path encoding), with scores replaced by
their normal scores (ranks mapped through the normal quantile function), since only the order
matters for choosing and a few failed cells (10 % accuracy on NB101) would otherwise dominate a
squared loss. It is refitted from fresh weights at every `sample()` call, so its state is the
observations and the random streams alone. Until `min_observations` distinct cells are observed,
`sample()` passes the proposer's draws through. Cells already observed never reach the predictor's
choice; the proposer observes all feedback (the VAE keeps training on the best queried cells).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from samplenas.errors import UserError
from samplenas.samplers.wrapping import WrappingSampler
from samplenas.spaces.base import Arch, SearchSpace


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Ranks mapped to standard-normal quantiles (ties keep arrival order): order kept, outliers tamed."""
    ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    quantiles = torch.tensor((ranks + 0.5) / len(values), dtype=torch.float64)
    return (math.sqrt(2.0) * torch.erfinv(2.0 * quantiles - 1.0)).numpy()


class MLPEnsemble:
    """`members` two-hidden-layer ReLU MLPs trained at once as batched matrix products.

    Each member starts from its own random weights (the only source of disagreement, as in
    BANANAS) and is trained full-batch with Adam; one batched network is several times faster on a
    CPU than a loop over members, which keeps a fit well under a second.
    """

    def __init__(self, inputs: int, members: int, hidden: int, generator: torch.Generator):
        shapes = [(inputs, hidden), (hidden, hidden), (hidden, 1)]
        self.weights = [torch.randn(members, a, b, generator=generator) * math.sqrt(2.0 / a) for a, b in shapes]
        self.biases = [torch.zeros(members, 1, b) for _, b in shapes]
        for tensor in self.weights + self.biases:
            tensor.requires_grad_(True)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions [members, rows] for features x [rows, inputs]."""
        h = x.unsqueeze(0).expand(len(self.weights[0]), -1, -1)
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if layer < len(self.weights) - 1:
                h = torch.relu(h)
        return h.squeeze(2)

    def fit(self, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, weight_decay: float) -> None:
        optimizer = torch.optim.AdamW(self.weights + self.biases, lr=lr, weight_decay=weight_decay)
        for _ in range(steps):
            loss = (self(x) - y).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def predict(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) over the members."""
        with torch.no_grad():
            out = self(x)
        return out.mean(0).numpy(), out.std(0).numpy() if len(out) > 1 else np.zeros(out.shape[1])


class PredictorSampler(WrappingSampler):
    """Options: inner (a registered sampler name, default "mixture": VAENAS's ε-mixture with a VAE),
    inner_options (dict), pool (candidates drawn from the inner sampler per asked cell),
    mutate_top (parents for the mutation candidates: the best this many observed cells; 0 = none),
    kappa (optimism: mean + kappa · std), members, hidden, steps, lr, weight_decay (the predictor),
    min_observations (pass the inner draws through until this many cells are observed)."""

    name = "predictor"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        inner: str = "mixture",
        inner_options: dict | None = None,
        pool: int = 10,
        mutate_top: int = 0,
        kappa: float = 0.5,
        members: int = 5,
        hidden: int = 32,
        steps: int = 150,
        lr: float = 0.01,
        weight_decay: float = 1e-3,
        min_observations: int = 20,
    ):
        super().__init__(space, seed, inner, inner_options)
        if min(pool, members, hidden, steps) < 1 or mutate_top < 0:
            raise UserError("predictor: pool, members, hidden and steps must be >= 1, mutate_top >= 0")
        if not (lr > 0 and weight_decay >= 0 and math.isfinite(kappa)) or min_observations < 2:
            raise UserError("predictor: need lr > 0, weight_decay >= 0, a finite kappa and min_observations >= 2")
        self.pool, self.mutate_top, self.kappa = int(pool), int(mutate_top), float(kappa)
        self.members, self.hidden, self.steps = int(members), int(hidden), int(steps)
        self.lr, self.weight_decay, self.min_observations = float(lr), float(weight_decay), int(min_observations)
        self.torch_rng = torch.Generator().manual_seed(self.seed)
        self.observations: list[tuple[Arch, float]] = []  # distinct cells, first score kept
        self.keys: dict[str, int] = {}  # space.key -> index into observations

    # --- proposing -----------------------------------------------------------------------------
    def sample(self, n: int) -> list[Arch]:
        n = self.check_count(n)
        if len(self.observations) < self.min_observations:
            return self.inner.sample(n)
        candidates = self.candidates(n)
        if not candidates:  # nothing new in the pool: the inner draws, which the caller may skip as known
            return self.inner.sample(n)
        mean, std = self.fit().predict(self.feature_matrix(candidates))
        best = np.argsort(-(mean + self.kappa * std), kind="stable")[:n]
        picked = [candidates[int(i)] for i in best]
        return picked + (self.inner.sample(n - len(picked)) if len(picked) < n else [])

    def candidates(self, n: int) -> list[Arch]:
        """Distinct, not yet observed cells: `pool` · n inner draws, then the mutations."""
        drawn = list(self.inner.sample(self.pool * n))
        if self.mutate_top:
            ranked = sorted(self.observations, key=lambda item: -item[1])[: self.mutate_top]
            parents = self.rng.integers(len(ranked), size=self.pool * n)
            mutants = [self.space.mutate(ranked[int(i)][0], self.rng) for i in parents]
            drawn.extend(arch for arch in mutants if self.budget is None or self.budget.admits(arch))
        fresh: dict[str, Arch] = {}
        for arch in drawn:
            key = self.space.key(arch)
            if key not in self.keys and key not in fresh:
                fresh[key] = arch
        return list(fresh.values())

    def feature_matrix(self, archs: Sequence[Arch]) -> torch.Tensor:
        return torch.from_numpy(np.stack([self.space.features(a) for a in archs]))

    def fit(self) -> MLPEnsemble:
        """A fresh ensemble fitted on every observation (normal scores as targets)."""
        archs, scores = zip(*self.observations)
        x = self.feature_matrix(archs)
        y = torch.tensor(normal_scores(np.asarray(scores)), dtype=torch.float32)
        model = MLPEnsemble(x.shape[1], self.members, self.hidden, self.torch_rng)
        model.fit(x, y, self.steps, self.lr, self.weight_decay)
        return model

    # --- feedback ------------------------------------------------------------------------------
    def observe(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        """Record newly seen cells (a repeat keeps its first score) and forward everything to the inner sampler."""
        archs, scores = self.check_feedback(archs, scores)
        for arch, score in zip(archs, scores):
            key = self.space.key(arch)
            if key not in self.keys:
                self.keys[key] = len(self.observations)
                self.observations.append((arch, score))
        super().observe(archs, scores)

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "torch_rng": self.torch_rng.get_state(),
            "observations": [[list(a), s] for a, s in self.observations],
            "keys": list(self.keys),
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.torch_rng.set_state(state["torch_rng"])
        self.observations = [(tuple(a), float(s)) for a, s in state["observations"]]
        self.keys = {key: i for i, key in enumerate(state["keys"])}
