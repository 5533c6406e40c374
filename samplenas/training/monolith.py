"""An ensemble retrain's comparison with one monolithic model trained for the optimiser steps its
members took together (see `samplenas.training.ensemble`)."""

from __future__ import annotations

import time
from dataclasses import replace

from samplenas.training.distributed import World
from samplenas.training.ensemble import MONOLITH_DIR, linear_probe
from samplenas.training.retrainer import RetrainJob, Trainer


def compare_with_monolith(job: RetrainJob, trainer: Trainer, test: dict, world: World) -> dict | None:
    """Train the monolithic model (in `out/monolithic`, resumable) and report both sides; None
    when that training was stopped by `stop_after`."""
    members = trainer.members
    budget = sum(m.steps for m in members)
    mono_job = replace(job, out=job.out / MONOLITH_DIR, ensemble=1, patience=0, step_budget=budget)
    if world.is_main:
        mono_job.out.mkdir(parents=True, exist_ok=True)
    mono = Trainer(mono_job, world)
    if not mono.train():
        return None
    started = time.perf_counter()
    mono_test = mono.test()["member0"]
    report = {
        "members": len(members),
        "patience": job.patience,
        "member_steps": [m.steps for m in members],
        "stopped_early": [m.stopped for m in members],
        "member_test": [test[f"member{i}"] for i in range(len(members))],
        "combined_test": test["combined"],
        "ensemble_train_wall_time_s": round(trainer.train_seconds, 3),
        "monolithic": {"steps": mono.step, "test": mono_test, "train_wall_time_s": round(mono.train_seconds, 3)},
    }
    if job.recipe.task != "classification" and world.is_main:
        report["linear_probe"] = {
            "ensemble": linear_probe(trainer.nets, trainer.data, trainer.task, world, job.seed),
            "monolithic": linear_probe(mono.nets, mono.data, mono.task, world, job.seed),
        }
    report["evaluation_wall_time_s"] = round(time.perf_counter() - started, 3)
    return report
