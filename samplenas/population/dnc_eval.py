"""One Deep-n-Cheap evaluation, run inside a Ray worker: train a configuration, report accuracy and cost.

`t_tr` (seconds of training per epoch) is measured here, on the machine that trains, so it is specific
to that platform (CPU threads, GPU, load): a search's time penalty compares configurations measured on
the same kind of worker. The driver loads the data set once and keeps it in memory as tensors (the
paper's "whole data set in memory, no data loader overheads"); workers receive it by reference from
Ray's object store and read no file.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from samplenas.population.dnc_space import DncNet, build_net, count_params
from samplenas.training.data import load_dataset
from samplenas.training.distributed import init_world
from samplenas.training.fit import train_step
from samplenas.training.recipes import Recipe, build_optimizer
from samplenas.training.tasks import make_task


def data_tensors(data: dict) -> tuple:
    """(info, {split: (x, y)}) of a payload's data description, x normalised float32, whole splits."""
    loaded = load_dataset(data["name"], data.get("data_dir"), ("train", "val", "test"),
                          val_fraction=data["val_fraction"], seed=data["seed"], limit=data.get("limit"))
    return loaded.info, {split: _stack(getattr(loaded, split)) for split in ("train", "val", "test")}


def _stack(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(dataset, "batch"):
        return dataset.batch(np.arange(len(dataset)))
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(xs), torch.as_tensor(ys)


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    net.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y), batch):
            correct += int((net(x[start:start + batch]).argmax(1) == y[start:start + batch]).sum())
    net.train()
    return correct / max(1, len(y))


def settle(device: torch.device) -> None:
    """Wait for the GPU's queued work, so a wall-clock reading (t_tr) covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate_candidate(payload: dict, tensors: tuple) -> dict:
    """Train `payload["net"]` on `tensors` (`data_tensors` of the search's data) with `payload["hyper"]`
    for `payload["epochs"]` epochs (Adam, the step decay);
    fitness = best validation accuracy. mode "time": only time `reference_batches` training batches and
    scale them to one epoch (the c_0 of the time penalty, measured on the largest configuration).
    `payload["device"]` "cuda": data and network on the GPU Ray gave the task (--gpus-per-candidate)."""
    info, splits = tensors
    device = init_world(payload.get("device", "cpu")).device
    splits = {name: (x.to(device), y.to(device)) for name, (x, y) in splits.items()}
    net_spec = DncNet.from_dict(payload["net"])
    hyper = payload["hyper"]
    torch.manual_seed(int(payload["seed"]))
    net = build_net(net_spec, info.in_channels, info.image_size, info.num_classes).to(device)
    recipe = Recipe(epochs=int(payload["epochs"]), batch_size=int(hyper["batch_size"]), optimizer="adam",
                    lr=float(hyper["lr"]), weight_decay=float(hyper["weight_decay"]), schedule="step")
    optimizer = build_optimizer(net.parameters(), recipe)
    x_train, y_train = splits["train"]
    batch = min(recipe.batch_size, len(y_train))
    steps_per_epoch = -(-len(y_train) // batch)
    params = count_params(net)
    task = make_task(recipe, info)
    rng = np.random.default_rng(int(payload["seed"]))

    def train_batches(indices: np.ndarray, step: int, total: int) -> int:
        for start in range(0, len(indices), batch):
            idx = torch.as_tensor(indices[start:start + batch], device=device)
            train_step(net, optimizer, task, x_train[idx], y_train[idx], recipe, step, total)
            step += 1
        return step

    if payload.get("mode") == "time":
        count = max(1, min(int(payload["reference_batches"]), steps_per_epoch))
        order = rng.permutation(len(y_train))
        train_batches(order[:batch], 0, 1)  # warm-up (allocations, first-call overheads)
        settle(device)
        started = time.perf_counter()
        train_batches(order[:count * batch], 0, count)
        settle(device)
        seconds = (time.perf_counter() - started) / count * steps_per_epoch
        return {"fitness": 0.0, "t_tr": seconds, "params": params}

    total = recipe.epochs * steps_per_epoch
    step, train_seconds = 0, 0.0
    best_val, test_at_best, val_curve = -1.0, 0.0, []
    for _ in range(recipe.epochs):
        order = rng.permutation(len(y_train))
        started = time.perf_counter()
        step = train_batches(order, step, total)
        settle(device)
        train_seconds += time.perf_counter() - started
        val = accuracy(net, *splits["val"])
        val_curve.append(val)
        if val > best_val:
            best_val, test_at_best = val, accuracy(net, *splits["test"])
    return {"fitness": best_val, "val_acc": best_val, "test_acc": test_at_best, "t_tr": train_seconds / recipe.epochs,
            "params": params, "val_curve": val_curve}

