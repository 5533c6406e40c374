"""One PBT member's round of training, as a Ray task: a member state in, the next member state out.

Members are *tasks with states passed by value*, not long-lived actors. Why: synchronous PBT must
persist the whole population every round anyway (for `--resume` and for mixing, which reads two
parents' weights in the driver), so an actor's in-memory copy would only duplicate the driver's file;
a task that receives the member's last-round state and returns the next one makes recovery free --
when its worker or node dies, Ray re-runs the task (`max_retries`) from the same state, held in the
object store -- and lets Ray spread N members over W workers (or a cluster) with no placement logic
here. Workers open no file: the data set comes by reference (`Engine(shared=...)`), states travel as
task arguments and results, and the driver alone writes the run folder.

A member state (saved by the driver with `torch.save`, read back with `weights_only=True`) holds everything training
needs to continue exactly: architecture, network state (weights and BN statistics), optimiser state,
its optimiser step count (for the learning-rate schedule), and its data stream's position
(`BatchStream`, seeded per slot). Per-step randomness (cutout, denoising noise, dropout) is seeded by
(seed, slot, round, step), so a re-run task reproduces its result bit for bit.
"""

from __future__ import annotations

import json
import math
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from samplenas.supernet.factory import make_supernet
from samplenas.training.batches import BatchStream
from samplenas.training.data import load_dataset
from samplenas.training.distributed import World, init_world
from samplenas.training.fit import CPU, evaluate_members, train_step
from samplenas.training.recipes import Recipe, build_optimizer
from samplenas.training.tasks import make_task, step_generator

EVAL_BATCH = 256


def fitness_of(metrics: dict, task: str) -> float:
    """Higher is better: validation accuracy (classification) or PSNR in dB (reconstruction)."""
    return float(metrics["accuracy"] if task == "classification" else metrics["psnr"])


def seed_of(*keys: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0] >> 1)


def job_data(job: dict):
    """The run's splits, loaded by the driver (tasks receive them from the object store)."""
    recipe = job["recipe"]
    return load_dataset(job["data"], job["data_dir"], ("train", "val", "test"), val_fraction=job["val_fraction"],
                        seed=job["seed"], image_size=recipe["network"].get("image_size"), augment=recipe["augment"],
                        limit=job["limit"])


@lru_cache(maxsize=2)
def _supernet(space: str, settings_json: str):
    return make_supernet(space, json.loads(settings_json))


def job_supernet(job: dict):
    # keyed by the settings' JSON: list-valued settings (e.g. shufflenet's stage_channels) are not hashable
    return _supernet(job["space"], json.dumps(job["settings"], sort_keys=True))


def build_member(job: dict, arch, state: dict | None = None, device: torch.device | str = "cpu"):
    """(network, optimiser) of `arch` on `device`, loaded from a member state when given."""
    supernet = job_supernet(job)
    recipe = Recipe(**job["recipe"])
    net = supernet.build(tuple(arch)).to(device)  # before the optimiser, whose state then loads onto `device`
    optimizer = build_optimizer(net.parameters(), recipe)
    if state is not None:
        net.load_state_dict(state["model"])
        if state.get("optimizer") is not None:
            optimizer.load_state_dict(state["optimizer"])
    return net, optimizer


def initial_state(job: dict, arch, slot: int) -> dict:
    """A fresh member: network initialised from (seed, slot), no optimiser state, stream at 0."""
    torch.manual_seed(seed_of(job["seed"], slot, 0xF5E5))
    net, _ = build_member(job, arch)
    return {"arch": [int(a) for a in arch], "model": net.state_dict(), "optimizer": None, "steps": 0,
            "stream": {"seed": seed_of(job["seed"], slot), "epoch": 0, "position": 0}}


@torch.no_grad()
def evaluate(job: dict, data, nets: list, split: str, world: World = CPU) -> list[dict]:
    """Metrics of each network on `data`'s `split` (same evaluation noise for every network)."""
    recipe = Recipe(**job["recipe"])
    task = make_task(recipe, data.info)
    metrics = evaluate_members(nets, getattr(data, split), task, world, job["seed"], EVAL_BATCH, amp=False,
                               channels_last=False)
    return [metrics[f"member{i}"] for i in range(len(nets))]


def _hold_for_test(payload: dict) -> None:
    """Test hook: the first attempt of a task named in `hold` records its pid and waits, so a test
    can SIGKILL that worker; a re-run finds the pid file and goes straight on."""
    hold = payload.get("hold")
    if not hold or payload["key"] != hold["key"]:
        return
    pid_file = Path(hold["pid_file"])
    if pid_file.exists():
        return
    pid_file.write_text(str(os.getpid()))
    time.sleep(float(hold["seconds"]))


def on_cpu(tree):
    """`tree` (a state: nested dicts and lists) with every tensor moved to the CPU, for a driver that may
    have no GPU to load it on."""
    if isinstance(tree, torch.Tensor):
        return tree.cpu()
    if isinstance(tree, dict):
        return {k: on_cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(on_cpu(v) for v in tree)
    return tree


def train_round(payload: dict, data) -> dict:
    """The Ray task: from the state `start`, train `steps` steps on `data`, validate; returns the fitness
    and the member's next state (under "state", which the driver saves and strips from the log).
    `payload["device"]` "cuda" trains on the GPU Ray gave the task (--gpus-per-candidate); the state
    comes back on the CPU either way."""
    job = payload["job"]
    _hold_for_test(payload)
    world = init_world(payload.get("device", "cpu"))
    data = data.to(world.device)
    recipe = Recipe(**job["recipe"])
    task = make_task(recipe, data.info)
    state = payload["start"]
    net, optimizer = build_member(job, state["arch"], state, world.device)
    stream = BatchStream(data.train, recipe.batch_size, seed=state["stream"]["seed"])
    stream.load_state_dict(state["stream"])
    torch.manual_seed(seed_of(job["seed"], payload["slot"], payload["round"], 0xD0))  # dropout stream
    steps, total = int(state["steps"]), int(payload["total_steps"])
    losses = []
    for _ in range(int(payload["steps"])):
        x, y = stream.next()
        generator = step_generator(x.device, job["seed"], payload["slot"], steps)
        inputs, target = task.prepare(x, y, generator, True)
        losses.append(train_step(net, optimizer, task, inputs, target, recipe, steps, total, world))
        steps += 1
    val = evaluate(job, data, [net], "val", world)[0]
    fitness = fitness_of(val, recipe.task)
    if not math.isfinite(fitness):
        fitness = -math.inf
    end = {"arch": state["arch"], "model": net.state_dict(), "optimizer": optimizer.state_dict(), "steps": steps,
           "stream": stream.state_dict()}
    train_loss = float(np.mean(torch.stack(losses).tolist())) if losses else None  # one read: one GPU sync
    return {"fitness": fitness, "val": val, "train_loss": train_loss, "state": on_cpu(end)}
