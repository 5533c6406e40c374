"""Fitting one architecture: the training floor under every trainer.

`retrain` (one network, or an ensemble, with checkpoints and DDP), the supernet trainer and the
population searches' tasks (an evolution candidate, a PBT member's round, a Deep-n-Cheap
configuration) all train networks with the same pieces, kept here once: loading a run's data splits,
seeding a fresh network, an epoch's batches, one optimiser step (learning-rate schedule, bf16 autocast
on GPU, gradient clipping), evaluating networks on a split, and the one error a run that went
non-finite stops with. `fit` puts them together for one network trained from scratch without
checkpoints (an evolution candidate), step for step as `retrain` trains it.
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
from samplenas.training.checkpoint import first_non_finite
from samplenas.training.data import LoadedData, load_dataset
from samplenas.training.distributed import World, epoch_shard, eval_shard, reduce_sums
from samplenas.training.recipes import Recipe, build_optimizer, drop_path_probability, learning_rate
from samplenas.training.tasks import step_generator

EVAL_KEY = 7_777  # separates evaluation randomness (denoising noise) from training steps
CPU = World()  # one process, on the CPU: how population tasks train
LOSS_EVERY = 50  # steps between reads of the mean training loss (a read syncs a GPU)
NOTHING_KEPT = "no checkpoint was written"


class Diverged(UserError):
    """Training went non-finite (the loss, a weight or a BN statistic); the message says what was kept."""


def diverged(step: int, what: str, kept: str) -> Diverged:
    """The one message of a diverged run, whichever trainer stopped."""
    return Diverged(f"training diverged at step {step}: {what}; {kept}")


def check_loss(loss: float, step: int, kept: str) -> None:
    """Raise `Diverged` when the (mean) training loss of step `step` is not finite."""
    if not math.isfinite(loss):
        raise diverged(step, f"the training loss became {loss}", kept)


def check_weights(nets: list[nn.Module], step: int, kept: str) -> None:
    """Raise `Diverged` when a weight or buffer (BN statistics) of a network is not finite."""
    for index, net in enumerate(nets):
        bad = first_non_finite(net)
        if bad is not None:
            raise diverged(step, f"{bad} of member {index} is not finite", kept)


def load_data(job_like: dict, splits) -> LoadedData:
    """The splits of a run's data settings ({"data", "data_dir", "val_fraction", "seed", "limit",
    "recipe": {"network": {"image_size"?}, "augment"}, "train_examples"?})."""
    return load_dataset(job_like["data"], job_like["data_dir"], splits, val_fraction=job_like["val_fraction"],
                        seed=job_like["seed"], image_size=job_like["recipe"]["network"].get("image_size"),
                        augment=job_like["recipe"]["augment"], limit=job_like["limit"],
                        train_examples=job_like.get("train_examples"))  # absent: older checkpoints, other callers


def new_network(supernet, arch, seed: int, index: int = 0) -> nn.Module:
    """Network `index` of a run, fresh: initialised from (seed, index), the same in every process."""
    torch.manual_seed(seed * 1_000 + index)
    return supernet.build(arch)


def seed_dropout(seed: int, world: World) -> None:
    """Start this process's dropout and drop-path stream (after the networks are built)."""
    torch.manual_seed(seed * 1_000 + 999 + world.rank)


def check_drop_path(nets: list[nn.Module], recipe: Recipe, space: str) -> None:
    if recipe.drop_path > 0 and not all(hasattr(net, "drop_path_prob") for net in nets):
        raise UserError(f"drop_path is not supported by {space} networks")


def set_drop_path(nets: list[nn.Module], recipe: Recipe, epoch: int) -> None:
    """The drop-path probability of `epoch` (DARTS' linear schedule), when the recipe drops paths."""
    if recipe.drop_path > 0:
        for net in nets:
            net.drop_path_prob = drop_path_probability(recipe, epoch)


def to_device(x: torch.Tensor, world: World, channels_last: bool) -> torch.Tensor:
    return in_memory_format(x.to(world.device, non_blocking=True), channels_last)


def autocast(world: World, amp: bool):
    """bf16 autocast on a GPU that supports it when `amp`; nothing otherwise."""
    if amp and world.device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def epoch_batches(train, global_batch: int, world: World, seed: int, epoch: int, first_step: int = 0,
                  workers: int = 0, channels_last: bool = False):
    """This process's (x, y) training batches of `epoch` from step `first_step` on, on its device: the
    order depends only on (seed, epoch) (`epoch_shard`), an example's augmentation on (seed, epoch, index)."""
    per_rank = global_batch // world.size
    indices = epoch_shard(len(train), global_batch, world, seed, epoch)[first_step * per_rank:]
    for x, y in iterate_batches(train, indices, per_rank, workers, key=(seed, epoch)):
        yield to_device(x, world, channels_last), y.to(world.device)


def train_inputs(task, x: torch.Tensor, y: torch.Tensor, world: World, seed: int, step: int):
    """(inputs, target) of training step `step`: its augmentation noise seeded by (seed, step, rank)."""
    return task.prepare(x, y, step_generator(world.device, seed, step, world.rank), True)


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


def fit(net: nn.Module, data: LoadedData, task, recipe: Recipe, seed: int, space: str, world: World = CPU,
        amp: bool = False, channels_last: bool = False) -> int:
    """Train `net` (fresh from `new_network`) on `data.train` for `recipe.epochs` epochs in one process,
    with the batches, noise, schedule and dropout stream `retrain` gives its network; returns the steps
    taken. Raises `Diverged` when the loss or a weight went non-finite."""
    steps_per_epoch = len(data.train) // recipe.batch_size
    if steps_per_epoch == 0:
        raise UserError(f"batch size {recipe.batch_size} exceeds the {len(data.train)} training examples")
    check_drop_path([net], recipe, space)
    seed_dropout(seed, world)
    optimizer = build_optimizer(net.parameters(), recipe)
    total, step = recipe.epochs * steps_per_epoch, 0
    for epoch in range(recipe.epochs):
        set_drop_path([net], recipe, epoch)
        running = []
        for x, y in epoch_batches(data.train, recipe.batch_size, world, seed, epoch, channels_last=channels_last):
            inputs, target = train_inputs(task, x, y, world, seed, step)
            running.append(train_step(net, optimizer, task, inputs, target, recipe, step, total, world, amp))
            step += 1
            if step % LOSS_EVERY == 0:
                check_loss(float(torch.stack(running).mean()), step, NOTHING_KEPT)
                running = []
        if running:
            check_loss(float(torch.stack(running).mean()), step, NOTHING_KEPT)
        check_weights([net], step, NOTHING_KEPT)
    return step


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
