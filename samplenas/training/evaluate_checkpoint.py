"""`samplenas evaluate`: the test set re-run on the networks a retrain saved, as the run tested them."""

from __future__ import annotations

from pathlib import Path

import torch

from samplenas.errors import UserError
from samplenas.training import typed_config
from samplenas.training.artifacts import Checkpoint, read_checkpoint, retrained_networks
from samplenas.training.distributed import World, close_world, init_world
from samplenas.training.ensemble import linear_probe
from samplenas.training.fit import evaluate_members, load_data, recalibrate_if_short
from samplenas.training.recipes import Recipe
from samplenas.training.tasks import make_task


def evaluate_checkpoint(directory: str | Path, data_dir: str | None = None, device: str | None = None) -> dict:
    """Re-run the test set on the networks saved in `directory` (a retrain output folder)."""
    checkpoint = read_checkpoint(directory)
    if checkpoint.kind != "retrain":
        raise UserError(f"{checkpoint.path} is a supernet training checkpoint; evaluate takes a retrain's")
    meta = {**checkpoint.state["meta"], "data_dir": data_dir or checkpoint.state["meta"]["data_dir"]}
    recipe = Recipe(**typed_config.build(Recipe, meta["recipe"], f"{checkpoint.path}: recipe")).check()
    world = init_world(device)
    try:
        return _evaluate(checkpoint, meta, recipe, world)
    finally:
        close_world(world)


def _evaluate(checkpoint: Checkpoint, meta: dict, recipe: Recipe, world: World) -> dict:
    data = load_data(meta, ("train", "test"))
    task = make_task(recipe, data.info)
    channels_last = bool(meta.get("channels_last"))  # evaluated in the layout the run tested in
    nets = []
    for net in retrained_networks(checkpoint).nets:
        net = net.to(world.device)
        nets.append(net.to(memory_format=torch.channels_last) if channels_last else net)
    recalibrated = recalibrate_if_short(nets, data.train, task, world, meta["seed"], recipe.batch_size // world.size,
                                        int(checkpoint.state["step"]))  # as the run's test did
    metrics = evaluate_members(nets, data.test, task, world, meta["seed"], min(recipe.batch_size, 256),
                               channels_last=channels_last)
    report = {"checkpoint": str(checkpoint.path), "space": meta["space"], "arch": meta["arch_text"],
              "data": meta["data"], "test": metrics["combined" if len(nets) > 1 else "member0"],
              "bn_recalibration_batches": recalibrated}
    if len(nets) > 1:
        report["members"] = [metrics[f"member{i}"] for i in range(len(nets))]
        if recipe.task != "classification":
            report["linear_probe"] = linear_probe(nets, data, task, world, meta["seed"])
    return report
