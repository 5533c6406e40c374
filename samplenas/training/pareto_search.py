"""`search --pareto`: NSGA-II on a trained supernet for the front of supernet score against cost.

Objectives: the architecture's cost (`params` or `macs` of its standalone network) and its score
(the supernet's validation accuracy by default; any `--scorer`), under the search's budget or, when
it gives none, the one the run was trained under. Writes RUN/pareto.json (the front, cheapest
first, in the form `retrain --from ... --point K` and `export --from ... --point K` read) and
RUN/pareto.png. Cells that compute no operation are skipped unless `keep_degenerate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from samplenas.errors import UserError
from samplenas.samplers.pareto import NSGA2, non_dominated
from samplenas.training.budgets import supernet_budget
from samplenas.training.checkpoint import save_json
from samplenas.training.scorers import RunScorer
from samplenas.training.search import SearchConfig
from samplenas.training.supernet_ensemble import ensemble_record, open_runs
from samplenas.training.supernet_run import scoring_settings

PARETO = "pareto.json"
FIGURE = "pareto.png"


def pareto_search(run: str | Path, config: SearchConfig, device: str | None = None, data_dir: str | None = None,
                  progress: bool = True, evaluation: dict | None = None, ensemble: Sequence = ()) -> dict:
    """NSGA-II with population `config.population` for population + generations * children queries (`ensemble`:
    other runs trained alike, whose supernet scores are averaged with `run`'s)."""
    from samplenas.benchmarks.nb101_pareto import plot_front

    run = Path(run)
    config.check()
    if config.rescore_top:
        raise UserError("search: rescore_top orders the single-objective search's best; a Pareto search keeps "
                        "a front")
    trainer = open_runs([run, *ensemble], device, data_dir, evaluation=evaluation)
    space, supernet = trainer.space, trainer.supernet
    limits = (config.max_params, config.max_macs, config.max_latency_ms, config.latency_table)
    budget = supernet_budget(supernet, *limits) if any(v is not None for v in limits) else trainer.budget
    scorer = RunScorer(trainer, config.scorer or "supernet", seed=config.seed, standalone_steps=config.standalone_steps)
    search = NSGA2(space, seed=config.seed, population_size=max(2, config.population),
                   crossover_prob=config.crossover_prob, budget=budget)
    queries = config.population + config.generations * (config.children or config.population)
    scores: list[float] = []
    with tqdm(total=queries, disable=not progress, unit="arch", desc="pareto", dynamic_ncols=True) as bar:
        while len(search.archs) < queries:
            archs = [a for a in search.ask(min(config.population, queries - len(search.archs)))
                     if config.keep_degenerate or not space.is_degenerate(a)]
            values = [float(scorer.score(arch)["score"]) for arch in archs]
            search.tell(archs, [(supernet.cost(a)[config.cost_metric], -v) for a, v in zip(archs, values)])
            scores.extend(values)
            bar.update(len(archs))
            if not archs and len(search.keys) > 100 * queries:
                break
    points = np.asarray(search.objectives)
    entries = []
    for point, index in enumerate(non_dominated(points)):
        arch = search.archs[int(index)]
        cost = supernet.cost(arch)
        entries.append({"point": point, "arch": space.to_str(arch), "described": space.describe(arch),
                        "encoding": list(arch), "key": space.key(arch), "score": scores[int(index)],
                        "params": cost["params"], "macs": cost["macs"]})
    report = {"space": trainer.config.space, "run": str(run), **ensemble_record(trainer),
              "objectives": [config.cost_metric, "score"],
              "scorer": scorer.name, "scorer_trends": scorer.trends, "evaluation": scoring_settings(trainer),
              "queries": len(search.archs),
              "budget": dict(budget.limits) if budget else {}, "architectures": entries}
    save_json(run / PARETO, report)
    plotted = np.stack([points[:, 0], 1.0 + points[:, 1]], axis=1)  # (cost, 1 - score): the plot's error form
    plot_front(run / FIGURE, plotted, plotted[non_dominated(plotted)], None, config.cost_metric,
               f"{trainer.config.space} supernet: {len(search.archs)} architectures scored", ylabel="score (%)")
    return report
