"""Any sampler, filtered by a zero-cost proxy: many candidates drawn, the few the proxy likes kept.

On NAS-Bench-101 a zero-cost proxy of the freshly initialised network ranks cells far better than a
supernet trained on a CPU budget does (Kendall τ 0.49 for the parameter count, 0.38 for synflow,
against about 0.07 for the supernet: docs/results/nb101-scorers.md). Like the predictor filter, the
inner sampler draws `pool` times more candidates than asked for and the `n` with the highest proxy
score are kept, here with no observations needed: the proxy is fixed from the first draw.

Duplicates: a repeated cell is ranked after every distinct one, so the `n` kept are distinct whenever
the pool holds `n` distinct cells (a supernet step or an evaluation round gains nothing from training
or scoring one path twice), and repeats only fill up when it does not. Ties in the proxy keep the
draw order, and the kept cells come back in the order they were drawn, so `pool=1` returns exactly
the inner sampler's draws.

The score comes from outside (`attach_scorer`), as a sampler is built from (space, seed, options)
alone and the proxy needs a network builder, a task and a minibatch: a supernet run attaches
`samplenas.training.zero_cost.ZeroCostScorer` for `proxy`. Scores are a pure function of the cell
(the network is initialised from a fixed seed, the minibatch is fixed, the caller's random streams
are left alone), so they are cached by `space.key` and kept out of the state: a resumed run
recomputes the same numbers and proposes exactly what the uninterrupted one would.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from samplenas.errors import UserError
from samplenas.samplers.wrapping import WrappingSampler
from samplenas.spaces.base import Arch, SearchSpace
from samplenas.training.choices import ZERO_COST_PROXIES

Scorer = Callable[[Arch], float]


class ProxyFilterSampler(WrappingSampler):
    """Options: inner (a registered sampler name, default "uniform"; not fair, whose groups a filter
    would break), inner_options (dict), proxy (one of `ZERO_COST_PROXIES`, default "params"), pool
    (candidates drawn per asked cell, >= 1), batch_size (examples in the proxy's fixed minibatch)."""

    name = "proxy-filter"
    own_law = True  # a search seeds from this sampler itself: its filtered draws are the law the run trained on

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        inner: str = "uniform",
        inner_options: dict | None = None,
        proxy: str = "params",
        pool: int = 4,
        batch_size: int = 64,
    ):
        super().__init__(space, seed, inner, inner_options, refused=("fair",),
                         wanted="another registered sampler except fair")
        if proxy not in ZERO_COST_PROXIES:
            raise UserError(f"proxy-filter: unknown proxy {proxy!r}; valid: {', '.join(ZERO_COST_PROXIES)}")
        if int(pool) != pool or pool < 1 or int(batch_size) != batch_size or batch_size < 1:
            raise UserError(f"proxy-filter: pool and batch_size must be integers >= 1, got {pool!r} and {batch_size!r}")
        self.proxy, self.pool, self.batch_size = proxy, int(pool), int(batch_size)
        self.scorer: Scorer | None = None
        self.scores: dict[str, float] = {}  # space.key -> proxy score

    def attach_scorer(self, scorer: Scorer) -> ProxyFilterSampler:
        """`scorer(arch)` -> the proxy's value (higher is better); returns self."""
        self.scorer = scorer
        self.scores = {}
        return self

    def score(self, arch: Arch) -> float:
        """The cached proxy score; a non-finite one ranks last."""
        key = self.space.key(arch)
        if key not in self.scores:
            value = float(self.scorer(arch))
            self.scores[key] = value if math.isfinite(value) else -math.inf
        return self.scores[key]

    def sample(self, n: int) -> list[Arch]:
        n = self.check_count(n)
        if self.scorer is None:
            raise UserError("proxy-filter: no proxy scorer attached; a supernet run (samplenas train) attaches "
                            "one, elsewhere call attach_scorer first")
        drawn = self.inner.sample(self.pool * n)
        if self.pool == 1:
            return drawn
        seen: set[str] = set()
        repeat = []
        for arch in drawn:
            key = self.space.key(arch)
            repeat.append(key in seen)
            seen.add(key)
        order = sorted(range(len(drawn)), key=lambda i: (repeat[i], -self.score(drawn[i]), i))
        return [drawn[i] for i in sorted(order[:n])]
