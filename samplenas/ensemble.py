"""Ensembles of independently initialised copies against one monolithic model of the same budget.

After Bhargava & Surana, "Eager Training of Autoencoders in Parallel": N copies are trained in
lockstep on the same batches, each optionally stopped early ("eagerly") when its validation loss
has not improved for `patience` epochs (keeping its best weights). The combination is judged
against one model trained for the total number of optimiser steps the copies took, which on one
device is the same training time (the copies run one after another on each batch):

* classifiers: the averaged class probabilities against the single model's;
* autoencoders: the averaged reconstruction, and — as in the paper — a linear classifier
  (multinomial logistic regression) on the concatenated encoder features of the copies against
  one on the single model's features, when the data set has labels.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samplenas.data import iterate_batches
from samplenas.distributed import World
from samplenas.errors import UserError

MONOLITH_DIR = "monolithic"
FEATURE_GRID = 4  # encoder features are average-pooled to at most 4x4 per channel


@torch.no_grad()
def latent_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The encoder output of a `ModularAutoencoder` for `x`, pooled and flattened.

    Its steps are the encoder, the reductions, then their mirror images, so the decoder starts
    at step len(steps) // 2; the encoder output is what enters that step's module.
    """
    steps, ops = getattr(net, "steps", None), getattr(net, "ops", None)
    if steps is None or ops is None or len(ops) != len(steps):
        raise UserError(f"{type(net).__name__} exposes no encoder (expected an autoencoder's steps and ops)")
    captured: list[torch.Tensor] = []
    handle = ops[len(steps) // 2].register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    try:
        net(x)
    finally:
        handle.remove()
    z = captured[0].float()
    grid = (min(FEATURE_GRID, z.shape[-2]), min(FEATURE_GRID, z.shape[-1]))
    return F.adaptive_avg_pool2d(z, grid).flatten(1)


def _features(nets: list[nn.Module], dataset, task, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    for net in nets:
        net.eval()
    xs, ys = [], []
    for x, y in iterate_batches(dataset, np.arange(len(dataset)), 256):
        clean = task.clean(x.to(device))
        xs.append(torch.cat([latent_features(net, clean) for net in nets], dim=1).cpu().numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def linear_probe(nets: list[nn.Module], data, task, world: World, seed: int) -> dict:
    """Test accuracy of a logistic regression on the nets' concatenated encoder features
    (fitted on the training split, standardised features)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x, train_y = _features(nets, data.train, task, world.device)
    test_x, test_y = _features(nets, data.test, task, world.device)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    probe.fit(train_x, train_y)
    return {"accuracy": float(probe.score(test_x, test_y)), "features": int(train_x.shape[1])}


def compare_with_monolith(job, trainer, test: dict, world: World) -> dict | None:
    """Train the monolithic model (in `out/monolithic`, resumable) and report both sides; None
    when that training was stopped by `stop_after`."""
    from samplenas.retrain import Trainer

    members = trainer.members
    budget = sum(m.steps for m in members)
    mono_job = dataclasses.replace(job, out=job.out / MONOLITH_DIR, ensemble=1, patience=0, step_budget=budget)
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
