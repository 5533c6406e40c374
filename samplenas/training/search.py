"""Evolutionary architecture search on a trained supernet (SPOS-style, seeded by the run's sampler).

The initial population is drawn from the run's learned sampler (VAENAS Algorithm 2 line 13: seeds
from p_theta; for a mixture, its learned part), then (mu + lambda) evolution with the space's
mutation and crossover (the `evolution` sampler) proposes children. Each candidate is scored on the
supernet after BN recalibration on a few training batches, on the validation split.

Objective (to minimise), Deep-n-Cheap (Vinay et al.) eq. 1-2: f = f_p + w_c * c / c0, where
f_p = 1 - validation accuracy (validation MSE for autoencoders), c = parameters or multiply-adds
of the architecture and c0 a reference cost (default: the largest cost in the initial population,
DnC's "high-complexity config"). Hard limits (a `Budget`: the search's own, else the one the run was
trained under) keep the evolution's proposals within them, so no query is spent above the budget.
`rescore_top` scores the best few again before they are ordered: on more validation images (the best of
many scores on a few hundred images is the luckiest as often as the best), by another scorer, or both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from samplenas.errors import UserError
from samplenas.samplers.evolution import EvolutionSampler
from samplenas.spaces.base import Arch
from samplenas.training.budgets import supernet_budget
from samplenas.training.checkpoint import save_json
from samplenas.training.choices import (
    COST_METRICS,
    SEED_SOURCES,
    default_search_rescoring,
    default_search_scorer,
    resolved_standalone,
)
from samplenas.training.scorers import RunScorer, scorer_name, standalone_setting
from samplenas.training.supernet_ensemble import ensemble_record, open_runs
from samplenas.training.supernet_run import scoring_settings
from samplenas.training.supernet_sampler import learned_part
from samplenas.training.supernet_train import SupernetTrainer

TOP = "top.json"


@dataclass
class SearchConfig:
    population: int = 16
    generations: int = 4
    children: int | None = None  # per generation; default = population
    tournament_size: int = 4
    crossover_prob: float = 0.5
    seeds: str = "sampler"  # initial population from the run's sampler, or uniform
    cost_weight: float = 0.0  # w_c
    cost_metric: str = "params"
    cost_ref: float | None = None  # c0
    max_params: int | None = None  # limits; none given: the limits the run was trained under
    max_macs: int | None = None
    max_latency_ms: float | None = None
    latency_table: str | None = None
    top: int = 5
    seed: int = 0
    max_rejections: int = 2000
    keep_degenerate: bool = False  # score cells that compute no operation (NB101 input->output) too
    scorer: str | None = None  # `training.scorers` (supernet, a proxy, parts joined by "+"); None: the space's default
    # the best `rescore_top` scored again, on `rescore_examples` validation images (their reference sample too)
    # and/or by `rescore_scorer`, and ordered by that: the search picks the best of many noisy scores, so its
    # winner's score is biased upwards; None: the space's default (`default_search_rescoring`), 0: none
    rescore_top: int | None = None
    rescore_examples: int | None = None
    rescore_scorer: str | None = None
    # a "standalone" scorer part's training steps and image downscaling; None: the space's (`resolved_standalone`)
    standalone_steps: int | None = None
    standalone_downscale: int | None = None

    def check(self) -> SearchConfig:
        for name in ("population", "tournament_size", "top", "max_rejections", "standalone_steps",
                     "standalone_downscale"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise UserError(f"search: {name} must be at least 1, got {getattr(self, name)}")
        if self.generations < 0 or (self.children is not None and self.children < 1):
            raise UserError("search: generations must be >= 0 and children >= 1")
        if self.cost_metric not in COST_METRICS:
            raise UserError(f"search: unknown cost metric {self.cost_metric!r}; valid: {', '.join(COST_METRICS)}")
        if self.seeds not in SEED_SOURCES:
            raise UserError(f"search: unknown seed source {self.seeds!r}; valid: {', '.join(SEED_SOURCES)}")
        if self.scorer is not None:
            self.scorer = scorer_name(self.scorer)
        if self.cost_weight < 0 or (self.cost_ref is not None and self.cost_ref <= 0):
            raise UserError("search: cost weight must be >= 0 and the reference cost positive")
        if (self.rescore_top or 0) < 0 or (self.rescore_examples is not None and self.rescore_examples < 1):
            raise UserError("search: rescore_top must be >= 0 and rescore_examples at least 1")
        if self.rescore_top is not None and bool(self.rescore_top) != (
                self.rescore_examples is not None or self.rescore_scorer is not None):
            raise UserError("search: rescore_top goes with rescore_examples and/or rescore_scorer (the finalists, "
                            "and how they are scored again)")
        if self.rescore_top is None and (self.rescore_examples is not None or self.rescore_scorer is not None):
            raise UserError("search: rescore_examples and rescore_scorer need rescore_top (how many finalists are "
                            "scored again)")
        if self.rescore_scorer is not None:
            self.rescore_scorer = scorer_name(self.rescore_scorer)
        return self

    def for_space(self, space: str) -> SearchConfig:
        """This configuration with the space's defaults where none was chosen: its second scoring, and how its
        standalone scorer trains."""
        standalone = resolved_standalone(space, self.standalone_steps, self.standalone_downscale)
        config = replace(self, standalone_steps=standalone["steps"], standalone_downscale=standalone["downscale"])
        if config.rescore_top is not None:
            return config
        default = default_search_rescoring(space)
        return replace(config, rescore_top=default["top"], rescore_examples=default["examples"],
                       rescore_scorer=default["scorer"]).check()


def finalists_first(result: dict) -> tuple:
    """Sort key of the results: scored-again finalists first, by their new objective, ties in the search's order."""
    return "search_rank" not in result, result["objective"], result.get("search_rank", 0)


class SupernetSearch:
    """Scores, costs and the evolution loop for one trained run."""

    def __init__(self, trainer: SupernetTrainer, config: SearchConfig, progress: bool = True):
        self.trainer = trainer
        self.config = config.check().for_space(trainer.config.space)
        name = self.config.scorer or default_search_scorer(trainer.config.space)
        self.scorer = RunScorer(trainer, name, seed=self.config.seed, standalone_steps=self.config.standalone_steps,
                                standalone_downscale=self.config.standalone_downscale)
        self.space = trainer.space
        self.progress = progress
        limits = (config.max_params, config.max_macs, config.max_latency_ms, config.latency_table)
        given = any(value is not None for value in limits)
        self.budget = supernet_budget(trainer.supernet, *limits) if given else trainer.budget
        seeds = None
        if config.seeds == "sampler":  # drawn up front: a fair sampler returns whole groups, not n
            seeds = learned_part(trainer.sampler).sample(config.population)[: config.population]
        self.evolution = EvolutionSampler(self.space, seed=config.seed, variant="mu_plus_lambda",
                                          population_size=config.population, tournament_size=config.tournament_size,
                                          crossover_prob=config.crossover_prob, init=seeds).constrain(self.budget)
        self.results: list[dict] = []
        self.generations: list[dict] = []
        self.cost_ref = config.cost_ref

    def cost(self, arch: Arch) -> dict:
        return self.trainer.supernet.cost(arch)

    def within_limits(self, arch: Arch) -> bool:
        if self.space.is_degenerate(arch) and not self.config.keep_degenerate:
            return False
        return self.budget is None or self.budget.admits(arch)

    def propose(self, n: int) -> list[Arch]:
        """`n` unseen architectures within the budget (the evolution proposes no other) that compute something."""
        out: list[Arch] = []
        rejected = 0
        while len(out) < n:
            arch = self.evolution.sample(1)[0]
            if self.within_limits(arch):
                out.append(arch)
                continue
            rejected += 1
            if rejected > self.config.max_rejections:
                raise UserError(f"search: {rejected} candidates in a row computed no operation "
                                "(pass --keep-degenerate to score them)")
        return out

    def objective(self, metrics: dict, cost: dict | None, scorer: str | None = None) -> float:
        """Deep-n-Cheap f (lower is better) of a score by `scorer` (default: the search's); a zero-cost or
        combined score enters as its negative."""
        if (scorer or self.scorer.name) != "supernet":
            performance = -metrics["score"]
        else:
            performance = 1.0 - metrics["accuracy"] if "accuracy" in metrics else metrics["loss"]
        if not self.config.cost_weight:
            return performance
        return performance + self.config.cost_weight * cost[self.config.cost_metric] / self.cost_ref

    def evaluate(self, archs: list[Arch], generation: int, bar) -> None:
        needs_cost = bool(self.config.cost_weight)
        costs = [self.cost(a) if needs_cost else None for a in archs]
        if needs_cost and self.cost_ref is None:
            self.cost_ref = float(max(c[self.config.cost_metric] for c in costs)) or 1.0
        fitness = []
        for arch, cost in zip(archs, costs):
            metrics = self.scorer.score(arch)
            f = self.objective(metrics, cost)
            fitness.append(-f)
            self.results.append({"arch": arch, "generation": generation, "objective": f, "metrics": metrics,
                                 "cost": cost})
            bar.update(1)
        self.evolution.observe(archs, fitness)
        values = [-v for v in fitness]
        self.generations.append({"generation": generation, "best_objective": min(values),
                                 "mean_objective": float(np.mean(values)), "evaluated": len(self.results)})

    def run(self) -> list[dict]:
        config = self.config
        children = config.children or config.population
        total = config.population + config.generations * children
        with tqdm(total=total, disable=not self.progress, unit="arch", desc="search", dynamic_ncols=True) as bar:
            self.evaluate(self.propose(config.population), 0, bar)
            for generation in range(1, config.generations + 1):
                self.evaluate(self.propose(children), generation, bar)
        return self.top()

    def rescore(self, scorer: RunScorer) -> None:
        """Score the best `rescore_top` results again with `scorer` (more validation images, another scorer);
        they then rank first, by that score (ties in the search's order), and keep the search's own as
        `search_rank` / `search_score` / `search_objective` beside the search's metrics."""
        finalists = sorted(self.results, key=lambda r: r["objective"])[: self.config.rescore_top]
        bar = tqdm(finalists, disable=not self.progress, unit="arch", desc=f"scored again ({scorer.name})",
                   dynamic_ncols=True)
        for search_rank, result in enumerate(bar, 1):
            metrics = {**result["metrics"], **scorer.score(result["arch"])}
            result.update(search_rank=search_rank, search_score=result["metrics"]["score"],
                          search_objective=result["objective"], metrics=metrics,
                          objective=self.objective(metrics, result["cost"], scorer.name))

    def top(self) -> list[dict]:
        best = sorted(self.results, key=finalists_first)[: self.config.top]
        entries = []
        for rank, result in enumerate(best, 1):
            arch = result["arch"]
            cost = result["cost"] or self.cost(arch)
            entries.append({
                "rank": rank, "arch": self.space.to_str(arch), "described": self.space.describe(arch),
                "encoding": list(arch), "key": self.space.key(arch),
                "score": result["metrics"]["score"], "objective": result["objective"],
                "generation": result["generation"], "params": cost["params"], "macs": cost["macs"],
                "metrics": {k: v for k, v in result["metrics"].items() if k != "score"},
                **{key: result[key] for key in ("search_rank", "search_score", "search_objective") if key in result},
            })
        return entries


def rescored_settings(config: SearchConfig) -> dict:
    """What top.json records of a second scoring: the finalists, and only the settings given (the training
    steps of a standalone part too)."""
    given = {"eval_examples": config.rescore_examples, "scorer": config.rescore_scorer}
    return {"top": config.rescore_top, **{key: value for key, value in given.items() if value is not None},
            **standalone_setting(config.rescore_scorer, config.standalone_steps, config.standalone_downscale)}


def describe_rescoring(rescored: dict, search_scorer: str) -> str:
    """How a top.json's finalists were scored again (its "rescored" record), in words: one wording for every
    command that reports it."""
    scorer = rescored.get("scorer", search_scorer)
    downscale = rescored.get("standalone_downscale")
    parts = [f"trained alone for {rescored['standalone_steps']} steps"
             + (f" on images downscaled {downscale}x" if downscale else "")
             if "standalone_steps" in rescored else f"by {scorer}"]
    parts += [f"on up to {rescored['eval_examples']} validation images"] if "eval_examples" in rescored else []
    return ", ".join(parts)


def score_given(run: str | Path, texts: list[str], device: str | None = None,
                data_dir: str | None = None, evaluation: dict | None = None, ensemble: Sequence = ()) -> list[dict]:
    """Supernet scores of architectures the user names (readable form or comma-separated ints); with `ensemble`
    (other runs), the mean over `run` and them."""
    trainer = open_runs([run, *ensemble], device, data_dir, evaluation=evaluation)
    archs = [trainer.space.parse(text) for text in texts]  # InvalidArchitecture says what is wrong
    return [{"arch": trainer.space.to_str(arch), "described": trainer.space.describe(arch), **trainer.score(arch),
             **trainer.supernet.cost(arch)}
            for arch in archs]


def search(run: str | Path, config: SearchConfig, device: str | None = None, data_dir: str | None = None,
           progress: bool = True, evaluation: dict | None = None, ensemble: Sequence = ()) -> dict:
    """Search a trained run and write RUN/top.json (best first, in the retrainer's format); with `ensemble`
    (other runs trained alike), each architecture's supernet score is the mean over `run` and them."""
    run = Path(run)
    trainer = open_runs([run, *ensemble], device, data_dir, evaluation=evaluation)
    searcher = SupernetSearch(trainer, config, progress)
    config = searcher.config  # the space's default second scoring filled in
    top = searcher.run()
    if config.rescore_top:
        finer = trainer if config.rescore_examples is None else trainer.with_eval_examples(config.rescore_examples)
        searcher.rescore(RunScorer(finer, config.rescore_scorer or searcher.scorer.name, seed=config.seed,
                                   standalone_steps=config.standalone_steps,
                                   standalone_downscale=config.standalone_downscale))
        top = searcher.top()
    report = {
        "space": trainer.config.space, "run": str(run), **ensemble_record(trainer), "evaluated": len(searcher.results),
        "objective": {"cost_weight": config.cost_weight, "cost_metric": config.cost_metric,
                      "cost_ref": searcher.cost_ref,
                      "budget": dict(searcher.budget.limits) if searcher.budget else {}},
        "seeds": config.seeds if config.seeds == "uniform" else trainer.config.sampler, "search_seed": config.seed,
        "scorer": searcher.scorer.name, "scorer_trends": searcher.scorer.trends,
        "evaluation": {**scoring_settings(trainer),
                       **standalone_setting(searcher.scorer.name, config.standalone_steps,
                                            config.standalone_downscale)},
        "generations": searcher.generations, "top": top,
    }
    if config.rescore_top:
        report["rescored"] = rescored_settings(config)
    save_json(run / TOP, report)
    return report
