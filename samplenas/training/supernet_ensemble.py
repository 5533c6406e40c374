"""Several supernets trained alike (same space, network, data and scoring; other seeds) scored as one.

An architecture's metrics are the mean of its metrics on each member, each after its own BN recalibration and on
its own validation images (a run's validation split is drawn with its seed, so no member scores on images it
trained on). On
NB101 supernets of different seeds err partly on different cells, and a supernet orders cells about as well after
a quarter of its training as at its end: four supernets trained a quarter as long, their losses averaged, ranked
the table's cells better than one supernet trained four times as long, at the same cost
(docs/results/nb101-scorers.md, "An ensemble at the cost of one supernet").

Everything but the score (space, sampler, budget, data, costs, settings) is the first member's: `search` draws its
first population from it and writes its report in its folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from samplenas.errors import UserError
from samplenas.spaces.base import Arch
from samplenas.training.supernet_members import member_runs
from samplenas.training.supernet_run import open_run, run_config, scoring_settings
from samplenas.training.supernet_train import SupernetTrainer


def _alike(trainer: SupernetTrainer) -> dict:
    """What every member must share for their scores to be averaged."""
    config = trainer.config
    return {"space": config.space, "network": trainer.supernet.settings, "data": config.data,
            "task": config.task, "scoring": scoring_settings(trainer)}


class SupernetEnsemble:
    """The members' mean score; any other attribute is the first member's (one run stands for the ensemble)."""

    def __init__(self, members: Sequence[SupernetTrainer], runs: Sequence[str | Path]):
        if len(members) != len(runs) or len(members) < 2:
            raise ValueError("an ensemble needs at least two members, one run folder each")
        first = _alike(members[0])
        for member, run in zip(members[1:], runs[1:]):
            alike = _alike(member)
            differ = [name for name, value in alike.items() if value != first[name]]
            if differ:
                raise UserError(f"{run} cannot join an ensemble with {runs[0]}: its {differ[0]} differs "
                                f"({alike[differ[0]]!r} against {first[differ[0]]!r})")
        self.members = list(members)
        self.runs = [str(run) for run in runs]

    def __getattr__(self, name: str):
        if name in ("members", "runs"):  # not set yet (during unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.members[0], name)

    def with_eval_examples(self, eval_examples: int) -> SupernetEnsemble:
        """Every member scoring on its first `eval_examples` validation examples (`SupernetTrainer`'s)."""
        return SupernetEnsemble([member.with_eval_examples(eval_examples) for member in self.members], self.runs)

    def score(self, arch: Arch, calibrate: bool = True) -> dict:
        """Every metric (the score too) averaged over the members."""
        results = [member.score(arch, calibrate) for member in self.members]
        return {name: float(np.mean([result[name] for result in results])) for name in results[0]}


def open_runs(runs: Sequence[str | Path], device: str | None = None, data_dir: str | None = None,
              evaluation: dict | None = None) -> SupernetTrainer | SupernetEnsemble:
    """One run as `open_run` opens it, or several as one `SupernetEnsemble` (the first stands for them all); an
    ensemble run (`train --members`) counts as its members."""
    runs = [member for run in runs for member in member_runs(run, run_config(run, device, data_dir, evaluation))]
    resolved = [Path(run).resolve() for run in runs]
    for index, path in enumerate(resolved):
        if path in resolved[:index]:
            raise UserError(f"{runs[index]} is named twice; an ensemble's members are different runs")
    trainers = [open_run(run, device, data_dir, evaluation=evaluation) for run in runs]
    return trainers[0] if len(trainers) == 1 else SupernetEnsemble(trainers, runs)


def ensemble_record(trainer) -> dict:
    """{"ensemble": the members' run folders} for a report when `trainer` is an ensemble, else {}."""
    return {"ensemble": trainer.runs} if isinstance(trainer, SupernetEnsemble) else {}
