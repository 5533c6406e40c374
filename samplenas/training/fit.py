"""Fitting one architecture: the training floor under every trainer.

`retrain` (one network, or an ensemble, with checkpoints and DDP), the supernet trainer and the
population searches' tasks (an evolution candidate, a PBT member's round, a Deep-n-Cheap
configuration) all train networks with the same pieces, kept here once: loading a run's data splits,
one optimiser step (learning-rate schedule, bf16 autocast on GPU, gradient clipping), evaluating
networks on a split (re-estimating the batch norm statistics of a run too short for them first),
and the one error a run that went non-finite stops with.
"""

from __future__ import annotations

import math
from collections import defaultdict
from contextlib import nullcontext

import torch
from torch import nn

from samplenas.errors import UserError
from samplenas.supernet.bn import initial_stats_weight, recalibrate_bn
from samplenas.training.batches import in_memory_format, iterate_batches
from samplenas.training.data import LoadedData, load_dataset
from samplenas.training.distributed import World, eval_shard, reduce_sums
from samplenas.training.recipes import Recipe, learning_rate
from samplenas.training.tasks import step_generator

EVAL_KEY = 7_777  # separates evaluation randomness (denoising noise) from training steps
CPU = World()  # one process, on the CPU: how population tasks train


class Diverged(UserError):
    """Training went non-finite (the loss, a weight or a BN statistic); the message says what was kept."""


def diverged(step: int, what: str, kept: str) -> Diverged:
    """The one message of a diverged run, whichever trainer stopped."""
    return Diverged(f"training diverged at step {step}: {what}; {kept}")


def check_loss(loss: float, step: int, kept: str) -> None:
    """Raise `Diverged` when the (mean) training loss of step `step` is not finite."""
    if not math.isfinite(loss):
        raise diverged(step, f"the training loss became {loss}", kept)


def load_data(job_like: dict, splits) -> LoadedData:
    """The splits of a run's data settings ({"data", "data_dir", "val_fraction", "seed", "limit",
    "recipe": {"network": {"image_size"?}, "augment"}, "train_examples"?})."""
    return load_dataset(job_like["data"], job_like["data_dir"], splits, val_fraction=job_like["val_fraction"],
                        seed=job_like["seed"], image_size=job_like["recipe"]["network"].get("image_size"),
                        augment=job_like["recipe"]["augment"], limit=job_like["limit"],
                        train_examples=job_like.get("train_examples"))  # absent: older checkpoints, other callers


def to_device(x: torch.Tensor, world: World, channels_last: bool) -> torch.Tensor:
    return in_memory_format(x.to(world.device, non_blocking=True), channels_last)


def autocast(world: World, amp: bool):
    """bf16 autocast on a GPU that supports it when `amp`; nothing otherwise."""
    if amp and world.device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, task, inputs: torch.Tensor, target: torch.Tensor,
               recipe: Recipe, step: int, total_steps: int, world: World = CPU, amp: bool = False) -> torch.Tensor:
    """One optimiser step of `model` at schedule position `step` of `total_steps`: the recipe's learning
    rate, the task's loss (under autocast when `amp`), gradients clipped to `recipe.grad_clip`. Returns
    the detached loss (the caller decides when to read it: reading syncs a GPU)."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(recipe, step, total_steps)
    model.train()
    with autocast(world, amp):
        loss = task.loss(model(inputs), target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if recipe.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def evaluate_members(nets: list[nn.Module], dataset, task, world: World, seed: int, batch_size: int,
                     amp: bool = True, channels_last: bool = True, workers: int = 0) -> dict:
    """Metrics of each network and of their average ("combined"), over all processes."""
    for net in nets:
        net.eval()
    names = [f"member{i}" for i in range(len(nets))] + (["combined"] if len(nets) > 1 else [])
    sums: dict[str, float] = defaultdict(float)
    indices = eval_shard(len(dataset), world)
    for b, (x, y) in enumerate(iterate_batches(dataset, indices, batch_size, workers)):
        x, y = to_device(x, world, channels_last), y.to(world.device)
        inputs, target = task.prepare(x, y, step_generator(world.device, seed, EVAL_KEY, world.rank, b), False)
        with autocast(world, amp):
            scores = [task.scores(net(inputs)) for net in nets]
        if len(nets) > 1:
            scores.append(torch.stack(scores).mean(dim=0))
        for name, s in zip(names, scores):
            for key, value in task.metric_sums(s, target).items():
                sums[f"{name}/{key}"] += value
    if not sums:
        raise UserError("the evaluation split is empty")
    grouped: dict[str, dict[str, float]] = defaultdict(dict)
    for key, value in reduce_sums(sums, world).items():
        name, metric = key.split("/")
        grouped[name][metric] = value
    return {name: task.summarize(grouped[name]) for name in names}


def evaluate(net: nn.Module, dataset, task, seed: int, batch_size: int = 256, world: World = CPU) -> dict:
    """Metrics of one network on `dataset` (fp32, default layout)."""
    return evaluate_members([net], dataset, task, world, seed, batch_size, amp=False, channels_last=False)["member0"]


STALE_BN_WEIGHT = 0.01  # recalibrate when the initial BN statistics still weigh more than this
RECALIBRATION_BATCHES = 20


def recalibrate_if_short(nets: list[nn.Module], train, task, world: World, seed: int, batch_size: int,
                         steps: int) -> int:
    """Re-estimate BN statistics on training batches before testing a run too short for its BN momentum
    (as SPOS does for subnets); returns the batches used (0 when the running statistics are fresh)."""
    if not any(initial_stats_weight(net, steps) > STALE_BN_WEIGHT for net in nets):
        return 0
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed * 1_000 + 17)).tolist()
    indices = order[world.rank::world.size][: RECALIBRATION_BATCHES * batch_size]
    batches = []
    for b, (x, y) in enumerate(iterate_batches(train, indices, batch_size, 0)):
        x, y = x.to(world.device), y.to(world.device)
        batches.append(task.prepare(x, y, step_generator(world.device, seed, EVAL_KEY, world.rank, b), False)[0])
    for net in nets:
        recalibrate_bn(net, None, batches)
    return len(batches)
