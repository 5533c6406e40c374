"""Deep-n-Cheap's Bayesian optimisation on BoTorch: the paper's similarity kernel and expected improvement.

Kernel (paper eq. 3): per hyper-parameter k a ramp distance d_k = omega * (|x_i - x_j| / (u_k - l_k))^r_k,
turned into exp(-d_k^2 / 2) and combined convexly. Inputs arrive already scaled by (u_k - l_k) (see
`dnc_space.arch_features`). CNN channels are compared layer by layer (r = 1, 1/2, 1/3, 1/4, 1/4, ... by
depth, as in the authors' code) with distance omega for a layer only one network has, averaged over the
deeper network's layers (Fig. 2); MLP hidden layers are compared by their node total (r = 1/2) and their
count (r = 1); training hyper-parameters by log lr, log weight decay and batch size (r = 1).

The GP is BoTorch's `SingleTaskGP` with this kernel, a constant mean fixed at the mean of the observed f
values, and the paper's fixed noise sigma_n^2 = 1e-4; nothing is fitted (omega, r and the weights are the
paper's fixed choices), so a search is deterministic given its seed and its evaluations (exact resume by
replay). The acquisition is EI for minimisation with the paper's xi = 1e-4, over a pool of sampled
discrete configurations; several candidates per step are picked by "kriging believer" (the GP is
conditioned on its own mean at each pick, `condition_on_observations`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import Normal

with warnings.catch_warnings():  # linear_operator's torch.jit.script FutureWarning is not the user's to act on
    warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.script.*")
    from botorch.acquisition.analytic import AnalyticAcquisitionFunction
    from botorch.models import SingleTaskGP
    from botorch.utils.transforms import t_batch_mode_transform
    from gpytorch.kernels import Kernel
    from gpytorch.means import ConstantMean

OMEGA = 3.0
XI = 1e-4
NOISE = 1e-4


@dataclass(frozen=True)
class ScalarTerm:
    """One scaled input column compared by the ramp distance with power r."""

    column: int
    r: float = 1.0
    weight: float = 1.0


@dataclass(frozen=True)
class LayersTerm:
    """Per-layer comparison. Column `count` holds the layer count scaled to [0, 1] over (lo, hi); the
    layers' scaled values follow in columns first..first+hi-1. powers[i] is r of layer i."""

    count: int
    first: int
    lo: int
    hi: int
    powers: tuple[float, ...]
    weight: float = 1.0


def channel_powers(max_layers: int) -> tuple[float, ...]:
    """r_i = 1 / min(i, 4) for layer i = 1, 2, ...: small differences of deep layers are stretched."""
    return tuple(1.0 / min(i + 1, 4) for i in range(max_layers))


class DncKernel(Kernel):
    """sigma(x_i, x_j) = sum_t s_t sigma_t(x_i, x_j) / sum_t s_t over the terms (paper eq. 3c)."""

    has_lengthscale = False

    def __init__(self, terms: Sequence[ScalarTerm | LayersTerm], omega: float = OMEGA):
        super().__init__()
        if not terms:
            raise ValueError("DncKernel needs at least one term")
        self.terms = tuple(terms)
        self.omega = float(omega)

    def _ramp(self, a: torch.Tensor, b: torch.Tensor, r: float) -> torch.Tensor:
        return self.omega * (a.unsqueeze(-1) - b.unsqueeze(-2)).abs().clamp_min(0.0).pow(r)

    def _scalar(self, x1, x2, term: ScalarTerm) -> torch.Tensor:
        d = self._ramp(x1[..., term.column], x2[..., term.column], term.r)
        return torch.exp(-0.5 * d ** 2)

    def _layers(self, x1, x2, term: LayersTerm) -> torch.Tensor:
        span = term.hi - term.lo
        n1 = torch.round(x1[..., term.count] * span + term.lo)
        n2 = torch.round(x2[..., term.count] * span + term.lo)
        n1, n2 = n1.unsqueeze(-1), n2.unsqueeze(-2)
        deeper = torch.maximum(n1, n2)
        total = torch.zeros(deeper.shape, dtype=x1.dtype, device=x1.device)
        far = math.exp(-0.5 * self.omega ** 2)
        for i in range(term.hi):
            d = self._ramp(x1[..., term.first + i], x2[..., term.first + i], term.powers[i])
            both = (n1 > i) & (n2 > i)
            either = (n1 > i) | (n2 > i)
            value = torch.where(both, torch.exp(-0.5 * d ** 2), torch.full_like(d, far))
            total = total + torch.where(either, value, torch.zeros_like(value))
        # networks without any layer (MLP-free case) are identical in this term
        return torch.where(deeper > 0, total / deeper.clamp_min(1.0), torch.ones_like(total))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, last_dim_is_batch: bool = False,
                **params) -> torch.Tensor:
        weight = sum(t.weight for t in self.terms)
        k = 0.0
        for term in self.terms:
            part = self._layers(x1, x2, term) if isinstance(term, LayersTerm) else self._scalar(x1, x2, term)
            k = k + term.weight / weight * part
        if diag:
            return torch.diagonal(k, dim1=-2, dim2=-1)
        return k


class ExpectedImprovementXi(AnalyticAcquisitionFunction):
    """EI for minimisation with exploration margin xi (Brochu et al. eq. 4):
    EI = (f* - mu - xi) Phi(z) + sigma phi(z), z = (f* - mu - xi) / sigma."""

    def __init__(self, model, best_f: float, xi: float = XI):
        super().__init__(model=model)
        self.best_f, self.xi = float(best_f), float(xi)

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        mean, sigma = self._mean_and_sigma(X)
        improvement = (self.best_f - mean - self.xi).squeeze(-1)
        sigma = sigma.squeeze(-1)
        z = improvement / sigma
        normal = Normal(torch.zeros_like(z), torch.ones_like(z))
        return improvement * normal.cdf(z) + sigma * torch.exp(normal.log_prob(z))


def make_gp(train_x: np.ndarray, train_y: np.ndarray, kernel: DncKernel, noise: float = NOISE) -> SingleTaskGP:
    """SingleTaskGP over the observed configs: the paper's kernel, constant mean = mean(f), fixed noise."""
    x = torch.as_tensor(np.asarray(train_x), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(train_y), dtype=torch.float64).reshape(-1, 1)
    mean = ConstantMean()
    mean.constant.data.fill_(float(y.mean()))
    model = SingleTaskGP(x, y, train_Yvar=torch.full_like(y, noise), covar_module=kernel, mean_module=mean,
                         outcome_transform=None)
    model.eval()
    return model


def propose(train_x: np.ndarray, train_y: np.ndarray, pool_x: np.ndarray, kernel: DncKernel, count: int,
            xi: float = XI, noise: float = NOISE) -> list[int]:
    """Indices into `pool_x` of `count` distinct candidates, best EI first (kriging believer after the first)."""
    model = make_gp(train_x, train_y, kernel, noise)
    pool = torch.as_tensor(np.asarray(pool_x), dtype=torch.float64)
    best = float(np.min(train_y))
    chosen: list[int] = []
    with torch.no_grad():
        for _ in range(min(count, len(pool))):
            ei = ExpectedImprovementXi(model, best, xi)(pool.unsqueeze(-2))
            if chosen:
                ei[chosen] = -math.inf
            pick = int(torch.argmax(ei))
            chosen.append(pick)
            if len(chosen) < count:
                x_new = pool[pick:pick + 1]
                y_new = model.posterior(x_new).mean.detach()
                model = model.condition_on_observations(x_new, y_new, noise=torch.full_like(y_new, noise))
    return chosen


@dataclass
class Candidate:
    """A configuration of some stage: `value` is what the stage evaluates, `features` its GP input."""

    key: str
    value: object
    features: np.ndarray


def bo_minimise(sample: Callable[[np.random.Generator, int], list[Candidate]],
                sobol: Callable[[int], list[Candidate]], evaluate: Callable[[list[Candidate]], list[float]],
                kernel: DncKernel, initial: int, steps: int, batch: int, pool_size: int, seed: int,
                xi: float = XI, noise: float = NOISE, strategy: str = "bo",
                known: Sequence[tuple[Candidate, float]] = ()) -> list[tuple[Candidate, float]]:
    """Minimise `evaluate` over a discrete space: `initial` Sobol points, then `steps` evaluations chosen by EI
    from `pool_size` random candidates per round, `batch` per round (evaluated together).

    strategy "random": all initial + steps points drawn at random; "sobol": all of them Sobol (the paper's
    grid-like baseline). `known`: points evaluated before (e.g. the previous stage's incumbent), part of the
    GP's data but not of the budget. Returns `known` then every new (candidate, f) in evaluation order.
    """
    history: list[tuple[Candidate, float]] = list(known)
    seen: set[str] = {c.key for c, _ in known}
    total = len(history) + initial + steps
    rng = np.random.default_rng([seed, 7])

    def run(cands: list[Candidate]) -> None:
        values = evaluate(cands)
        for c, v in zip(cands, values):
            history.append((c, float(v)))
            seen.add(c.key)

    if strategy == "random":
        first = _distinct(lambda n: sample(rng, n), initial + steps, seen)
    else:
        first = _distinct(sobol, initial + steps if strategy == "sobol" else initial, seen)
    run(first)
    while len(history) < total:
        pool = [c for c in _distinct(lambda n: sample(rng, n), pool_size, seen)]
        if not pool:
            break
        xs = np.stack([c.features for c, _ in history])
        ys = np.array([v for _, v in history])
        picks = propose(xs, ys, np.stack([c.features for c in pool]), kernel,
                        min(batch, total - len(history)), xi, noise)
        run([pool[i] for i in picks])
    return history


def _distinct(draw: Callable[[int], list[Candidate]], n: int, exclude: set[str], tries: int = 20) -> list[Candidate]:
    """Up to n candidates with keys not in `exclude` and not repeated (small spaces may have fewer).

    Draws grow to at most 8 n per try and stop after two tries that found nothing new: a space with
    fewer unseen configurations than `n` (e.g. `--layers 0 0`) ends the search instead of drawing
    ever more (issue 25: a hang)."""
    out: list[Candidate] = []
    keys = set(exclude)
    want = max(1, n)
    stale = 0
    for _ in range(tries):
        found = 0
        for c in draw(want):
            if c.key not in keys:
                keys.add(c.key)
                out.append(c)
                found += 1
                if len(out) == n:
                    return out
        stale = 0 if found else stale + 1
        if stale >= 2:
            break
        want = min(want * 2, 8 * max(1, n))
    return out
