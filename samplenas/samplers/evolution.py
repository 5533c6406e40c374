"""Evolutionary search as a sampler: propose children of a scored population, never a repeat.

Two survivor rules share one loop (parents always come from tournaments of `tournament_size`):
- `regularized` (Real et al. 2019, "ageing evolution"): every scored child joins the population and
  the oldest member dies once it exceeds `population_size`;
- `mu_plus_lambda` (the SPOS search, Guo et al. 2019): the population is the best `population_size`
  of everything scored so far (parents and offspring compete together).
A cache of canonical keys (`space.key`, the official hash on NB101) of every architecture proposed
or scored makes sure none is proposed twice, so a budget of table queries or supernet evaluations
is never spent on a duplicate. The first `population_size` proposals come from `init`: uniform
sampling (default), a list of architectures (used in order, then uniform), or another sampler
(e.g. a trained VAE, VAENAS Table 4 "evolution"). Under a budget, a mutation or crossover child
above it is redrawn like a repeat (up to `max_tries`), and listed seeds above it are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from samplenas.errors import UserError
from samplenas.samplers.base import Sampler
from samplenas.spaces.base import Arch, SearchSpace

VARIANTS = ("regularized", "mu_plus_lambda")


class EvolutionSampler(Sampler):
    """Options: variant, population_size, tournament_size, crossover_prob (default 0 for
    regularized, as in Real et al.; 0.5 for mu_plus_lambda, SPOS's half mutation half crossover),
    init (None, list of archs, or a Sampler), max_tries (redraws to find an unseen architecture)."""

    name = "evolution"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        variant: str = "regularized",
        population_size: int = 50,
        tournament_size: int = 10,
        crossover_prob: float | None = None,
        init: Sequence[Arch] | Sampler | None = None,
        max_tries: int = 200,
    ):
        super().__init__(space, seed)
        if variant not in VARIANTS:
            raise UserError(f"evolution: unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
        if population_size < 1 or tournament_size < 1:
            raise UserError("evolution: population_size and tournament_size must be >= 1")
        self.variant = variant
        self.population_size = int(population_size)
        self.tournament_size = int(tournament_size)
        default_crossover = 0.0 if variant == "regularized" else 0.5
        self.crossover_prob = default_crossover if crossover_prob is None else float(crossover_prob)
        if not 0.0 <= self.crossover_prob <= 1.0:
            raise UserError(f"evolution: crossover_prob must be in [0, 1], got {crossover_prob}")
        self.max_tries = int(max_tries)
        self.init_sampler = init if isinstance(init, Sampler) else None
        self.init_archs = [] if init is None or self.init_sampler else [space.validate(a) for a in init]
        self.population: list[tuple[Arch, float]] = []  # oldest first (regularized) / best first (mu+lambda)
        self.history: list[tuple[Arch, float]] = []  # every scored architecture, in order
        self.scored: dict[str, float] = {}  # key -> score
        self.pending: set[str] = set()  # keys proposed but not yet scored
        self.init_issued = 0
        self.init_position = 0

    # --- proposing -----------------------------------------------------------------------------
    def sample(self, n: int) -> list[Arch]:
        n = self.check_count(n)
        out: list[Arch] = []
        while len(out) < n:
            initial = min(n - len(out), self.population_size - self.init_issued)
            if initial > 0:
                out.extend(self._initial(initial))
            elif not self.population:  # nothing scored yet: keep exploring from init/uniform
                out.extend(self._initial(n - len(out)))
            else:
                out.append(self._unseen(self._child))
        return out

    def best(self) -> tuple[Arch, float]:
        """The best scored architecture so far."""
        if not self.history:
            raise UserError("evolution: nothing has been scored yet")
        return max(self.history, key=lambda item: item[1])

    def _seen(self, arch: Arch) -> bool:
        key = self.space.key(arch)
        return key in self.scored or key in self.pending

    def _claim(self, arch: Arch) -> Arch:
        self.pending.add(self.space.key(arch))
        return arch

    def _unseen(self, draw: Callable[[], Arch]) -> Arch:
        """The first unseen architecture within the budget from `draw`, then from uniform sampling."""
        for source in (draw, lambda: self.space.sample_uniform(self.rng)):
            for _ in range(self.max_tries):
                arch = source()
                if not self._seen(arch) and self.admissible(arch):
                    return self._claim(arch)
        if self.budget is not None:
            raise UserError(f"evolution: no unseen architecture within the budget ({self.budget.describe()}) in "
                            f"{2 * self.max_tries} draws; the budget may admit too few")
        raise UserError(f"evolution: no unseen architecture in {2 * self.max_tries} draws; the space may be exhausted")

    def _initial(self, count: int) -> list[Arch]:
        """`count` unseen members of the initial population, batched when `init` is a sampler."""
        out: list[Arch] = []
        if self.init_sampler is not None:
            for _ in range(self.max_tries):
                for arch in self.init_sampler.sample(count - len(out)):
                    if len(out) < count and not self._seen(arch) and self.admissible(arch):  # fair: whole groups
                        out.append(self._claim(arch))
                if len(out) == count:
                    break
        while len(out) < count:
            out.append(self._unseen(self._next_listed))
        self.init_issued += len(out)
        return out

    def _next_listed(self) -> Arch:
        if self.init_position < len(self.init_archs):
            self.init_position += 1
            return self.init_archs[self.init_position - 1]
        return self.space.sample_uniform(self.rng)

    def _tournament(self) -> Arch:
        size = min(self.tournament_size, len(self.population))
        picks = self.rng.choice(len(self.population), size=size, replace=False)
        return max((self.population[int(i)] for i in picks), key=lambda item: item[1])[0]

    def _child(self) -> Arch:
        parent = self._tournament()
        if len(self.population) > 1 and self.rng.random() < self.crossover_prob:
            return self.space.crossover(parent, self._tournament(), self.rng)
        return self.space.mutate(parent, self.rng)

    def constrain(self, budget) -> EvolutionSampler:
        """Children, listed and sampled seeds alike stay within the budget (a child above it is redrawn)."""
        super().constrain(budget)
        if self.init_sampler is not None:
            self.init_sampler.constrain(budget)
        return self

    # --- feedback ------------------------------------------------------------------------------
    def observe(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        """Add newly scored architectures; a repeat of an already scored key is ignored."""
        archs, scores = self.check_feedback(archs, scores)
        for arch, score in zip(archs, scores):
            key = self.space.key(arch)
            self.pending.discard(key)
            if key in self.scored:
                continue
            self.scored[key] = score
            self.history.append((arch, score))
            self.population.append((arch, score))
            if self.variant == "mu_plus_lambda":
                self.population.sort(key=lambda item: -item[1])  # stable: earlier wins ties
                del self.population[self.population_size :]
            elif len(self.population) > self.population_size:
                self.population.pop(0)

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = super().state_dict()
        state.update(
            population=[[list(a), s] for a, s in self.population],
            history=[[list(a), s] for a, s in self.history],
            scored_keys=list(self.scored),
            pending=sorted(self.pending),
            init_issued=self.init_issued,
            init_position=self.init_position,
            init_sampler=self.init_sampler.state_dict() if self.init_sampler else None,
        )
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.population = [(tuple(a), float(s)) for a, s in state["population"]]
        self.history = [(tuple(a), float(s)) for a, s in state["history"]]
        self.scored = {key: s for key, (_, s) in zip(state["scored_keys"], self.history)}
        self.pending = set(state["pending"])
        self.init_issued = int(state["init_issued"])
        self.init_position = int(state["init_position"])
        if (state["init_sampler"] is None) != (self.init_sampler is None):
            raise UserError("evolution: state and sampler disagree on whether init is a sampler")
        if self.init_sampler is not None:
            self.init_sampler.load_state_dict(state["init_sampler"])
