"""The retrainer: `Trainer` trains a chosen architecture from scratch (`build(arch)`, no shared
weights) as a `RetrainJob` says, in an initialised world; `samplenas.training.retrain` runs a job
end to end, and population searches train their candidates with it.

One process per device: plain `python`/`samplenas retrain` on one device, or `torchrun
--nproc_per_node=G [--nnodes ...]` for data parallelism (DistributedDataParallel, batch norm
synchronised across processes, metrics all-reduced, only rank 0 writing files). The global batch
is split evenly over processes and the data order depends only on (seed, epoch), so the
trajectory does not depend on the number of processes beyond floating-point rounding.

The loop trains a list of "members" in lockstep on the same batches: one for a plain retrain,
N independently initialised copies for `ensemble=N` (each optionally stopped early at a
validation-loss patience). Checkpoints (every epoch, optionally every k steps) hold everything
needed to continue bit-exactly: weights, optimiser states, step counters, early-stopping state and
every process's RNG state.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from samplenas.errors import UserError
from samplenas.spaces.base import Arch
from samplenas.supernet.factory import make_supernet, network_settings
from samplenas.training import fit
from samplenas.training.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from samplenas.training.data import LoadedData
from samplenas.training.distributed import (
    World,
    convert_sync_batchnorm,
    gather_objects,
)
from samplenas.training.fit import check_loss, evaluate_members, load_data, recalibrate_if_short
from samplenas.training.recipes import Recipe, build_optimizer, learning_rate
from samplenas.training.schema import RETRAIN as RETRAIN_SCHEMA
from samplenas.training.schema import STATE_ERRORS, check_checkpoint
from samplenas.training.tasks import make_task
from samplenas.training.tensorboard import open_writer
from samplenas.training.typed_config import MAX_SEED, bounded

FORMAT = RETRAIN_SCHEMA.format  # "samplenas-retrain-1"


@dataclass
class RetrainJob:
    """Everything a retrain needs; `arch` is the text given by the user (readable form or ints)."""

    space: str
    arch: str
    data: str
    out: Path
    recipe: Recipe
    data_dir: str | None = None
    seed: int = bounded(0, ge=0, le=MAX_SEED)
    device: str | None = None  # "cpu", "cuda" or None (GPU when visible)
    amp: bool = True  # bf16 autocast on GPU
    channels_last: bool = True  # faster on CPU and GPU (tools/bench_proxy.py)
    sync_bn: bool = True  # when distributed
    resume: bool = False
    stop_after: int | None = bounded(None, ge=1)  # stop (checkpointed) after this many steps of this invocation
    checkpoint_steps: int = bounded(0, ge=0)  # extra mid-epoch checkpoints; 0 = at epoch ends only
    limit: int | None = bounded(None, ge=1)  # examples per split (quick runs)
    train_examples: int | None = bounded(None, ge=1)  # a stratified draw of the training set, validation held out of it
    val_fraction: float = bounded(0.1, gt=0, lt=1)
    loader_workers: int = bounded(0, ge=0)  # data loader processes (user Datasets; built-in sets are in memory)
    ensemble: int = bounded(1, ge=1)
    patience: int = bounded(0, ge=0)  # epochs without validation improvement before a member stops; 0 = never
    step_budget: int | None = bounded(None, ge=1)  # optimiser steps per member (--steps; the monolith's); None: epochs
    overwrite: bool = False  # replace a run already in `out` (after every input was validated)
    lower_lr: bool = False  # with resume: continue with a smaller recipe lr (after a divergence)
    progress: bool = True
    command: list[str] = field(default_factory=lambda: list(sys.argv))


# --- building --------------------------------------------------------------------------------
@dataclass
class Member:
    """One independently initialised network and its training state."""

    model: nn.Module  # the network (inside DDP when distributed)
    net: nn.Module  # the bare network
    optimizer: torch.optim.Optimizer
    steps: int = 0
    best_val: float = math.inf
    bad_epochs: int = 0
    stopped: bool = False
    best_state: dict | None = None

    def state_dict(self) -> dict:
        return {"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "steps": self.steps,
                "best_val": self.best_val, "bad_epochs": self.bad_epochs, "stopped": self.stopped,
                "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps, self.best_val = int(state["steps"]), float(state["best_val"])
        self.bad_epochs, self.stopped, self.best_state = int(state["bad_epochs"]), bool(state["stopped"]), \
            state["best_state"]


def build_network(supernet, arch: Arch, seed: int, index: int, world: World, sync_bn: bool,
                  channels_last: bool) -> nn.Module:
    """Member `index`'s fresh network: initialised from (seed, index), identical on every process."""
    net = fit.new_network(supernet, arch, seed, index)
    if world.distributed and sync_bn:
        net = convert_sync_batchnorm(net)
    net = net.to(world.device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def make_member(net: nn.Module, recipe: Recipe, world: World) -> Member:
    model = net
    if world.distributed:
        device_ids = [world.device.index] if world.device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(net, device_ids=device_ids)
    return Member(model=model, net=net, optimizer=build_optimizer(net.parameters(), recipe))


# --- training ------------------------------------------------------------------------------------
class Trainer:
    """Runs one job in an initialised world; see the module docstring."""

    def __init__(self, job: RetrainJob, world: World, data: LoadedData | None = None):
        """`data`: the already loaded splits of this job's data settings (population searches train many
        candidates per worker process and load the data set once); loaded here when None."""
        self.job, self.world = job, world
        self.out = Path(job.out)
        self.recipe = job.recipe
        data = data if data is not None else load_data(self._data_meta(), ("train", "val", "test"))
        self.data = data.to(world.device)  # resident on a GPU
        self.task = make_task(self.recipe, self.data.info)
        self.settings = network_settings(job.space, self.recipe.network, self.data.info)
        supernet = make_supernet(job.space, self.settings)
        self.space = supernet.space
        self.arch = self.space.parse(job.arch)
        self._check_task()
        self.cost = supernet.cost(self.arch)
        self.nets = [build_network(supernet, self.arch, job.seed, i, world, job.sync_bn, job.channels_last)
                     for i in range(job.ensemble)]
        del supernet
        fit.seed_dropout(job.seed, world)
        fit.check_drop_path(self.nets, self.recipe, job.space)
        self.members = [make_member(net, self.recipe, world) for net in self.nets]
        self.per_rank_batch = self._per_rank_batch()
        self.steps_per_epoch = len(self.data.train) // self.recipe.batch_size
        if self.steps_per_epoch == 0:
            raise UserError(f"batch size {self.recipe.batch_size} exceeds the {len(self.data.train)} training examples")
        self.total_steps = job.step_budget or self.recipe.epochs * self.steps_per_epoch
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.step = 0  # global optimiser step (of the lockstep loop)
        self.elapsed = 0.0  # training seconds of earlier invocations
        self.writer = None

    # -- set-up helpers
    def _data_meta(self) -> dict:
        job = self.job
        return {"data": job.data, "data_dir": job.data_dir, "val_fraction": job.val_fraction, "seed": job.seed,
                "limit": job.limit, "train_examples": job.train_examples, "recipe": self.recipe.to_dict()}

    def _check_task(self) -> None:
        reconstructs = self.job.space == "autoencoder"
        if reconstructs != (self.recipe.task != "classification"):
            raise UserError(f"task {self.recipe.task!r} does not fit the {self.job.space} space "
                            f"({'reconstruction or denoising' if reconstructs else 'classification'} expected)")

    def _per_rank_batch(self) -> int:
        batch, size = self.recipe.batch_size, self.world.size
        if batch % size:
            raise UserError(f"batch size {batch} is not divisible by the {size} processes")
        return batch // size

    def meta(self) -> dict:
        return {**self._data_meta(), "format": FORMAT, "space": self.job.space, "arch": list(self.arch),
                "arch_text": self.space.to_str(self.arch), "settings": self.settings, "ensemble": self.job.ensemble,
                "patience": self.job.patience, "total_steps": self.total_steps,
                "channels_last": self.job.channels_last}

    # -- checkpoints
    def save(self, epoch: int, epoch_step: int) -> None:
        self.check_finite()
        rng = {"cpu": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state(self.world.device) if self.world.device.type == "cuda" else None}
        rngs = gather_objects(rng, self.world)
        if self.world.is_main:
            save_checkpoint(self.out / CHECKPOINT, {
                "meta": self.meta(), "step": self.step, "epoch": epoch, "epoch_step": epoch_step,
                "elapsed": self.elapsed + time.perf_counter() - self._started, "rng": rngs,
                "members": [m.state_dict() for m in self.members],
            })

    def restore(self) -> tuple[int, int]:
        """Continue from the checkpoint in `out` (if any): returns (epoch, step within it)."""
        path = self.out / CHECKPOINT
        if not path.exists():
            return 0, 0
        state = check_checkpoint(load_checkpoint(path), RETRAIN_SCHEMA, str(path))
        saved, current = state["meta"], self.meta()
        if self.job.lower_lr:
            saved = self._accept_lower_lr(saved, path)
        # the data folder and the memory layout may change (the layout moves results by float rounding only)
        differing = [k for k in current if saved.get(k) != current[k] and k not in ("data_dir", "channels_last")]
        if differing:
            raise UserError(f"cannot resume {path}: it was written for a different {differing[0]} "
                            f"({saved.get(differing[0])!r} != {current[differing[0]]!r})")
        try:
            for member, member_state in zip(self.members, state["members"]):
                member.load_state_dict(member_state)
            rngs = state["rng"]
            if self.world.rank < len(rngs):
                torch.set_rng_state(rngs[self.world.rank]["cpu"])
                if rngs[self.world.rank]["cuda"] is not None and self.world.device.type == "cuda":
                    torch.cuda.set_rng_state(rngs[self.world.rank]["cuda"], self.world.device)
        except STATE_ERRORS as err:
            raise UserError(f"cannot resume {path}: {(str(err).splitlines() or [''])[0]}") from None
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        return int(state["epoch"]), int(state["epoch_step"])

    def _accept_lower_lr(self, saved: dict, path: Path) -> dict:
        """The saved meta with this run's lr, if that lr is smaller (the only change --lower-lr allows)."""
        old_lr, new_lr = saved["recipe"].get("lr"), self.recipe.lr
        if not (isinstance(old_lr, (int, float)) and new_lr < old_lr):
            raise UserError(f"--lower-lr needs an --lr below the checkpoint's {old_lr!r}, got {new_lr!r}")
        return {**saved, "recipe": {**saved["recipe"], "lr": new_lr}}

    def check_finite(self) -> None:
        """Divergence check of every member's weights and buffers (BN statistics) before a checkpoint."""
        fit.check_weights([m.net for m in self.members], self.step, self._kept())

    def _kept(self) -> str:
        if (self.out / CHECKPOINT).exists():
            return (f"the last finite checkpoint in {self.out} is kept (continue with --resume --lower-lr "
                    "--lr SMALLER)")
        return fit.NOTHING_KEPT

    # -- the loop
    def train_step(self, member: Member, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = fit.train_step(member.model, member.optimizer, self.task, inputs, target, self.recipe, member.steps,
                              self.total_steps, self.world, self.job.amp)
        member.steps += 1
        return loss

    def run_epoch(self, epoch: int, first_step: int, steps_left: int | None) -> tuple[bool, int]:
        """Train one epoch from `first_step`; returns (epoch finished?, steps taken)."""
        world, job = self.world, self.job
        fit.set_drop_path(self.nets, self.recipe, epoch)
        last = min(self.steps_per_epoch, first_step + self.total_steps - self.step)
        bar = tqdm(total=last, initial=first_step, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                   disable=not (world.is_main and job.progress), dynamic_ncols=True)
        batches = fit.epoch_batches(self.data.train, self.recipe.batch_size, world, job.seed, epoch, first_step,
                                    job.loader_workers, job.channels_last)
        taken, running, epoch_step = 0, [], first_step
        for epoch_step in range(first_step, last):
            if steps_left is not None and taken >= steps_left:
                break
            x, y = next(batches)
            inputs, target = fit.train_inputs(self.task, x, y, world, job.seed, self.step)
            running.extend(self.train_step(m, inputs, target) for m in self.members if not m.stopped)
            self.step += 1
            taken += 1
            bar.update(1)
            if self.step % fit.LOSS_EVERY == 0 or epoch_step + 1 == last:
                self._log_train(running, bar)
                running = []
            if job.checkpoint_steps and self.step % job.checkpoint_steps == 0 and epoch_step + 1 < last:
                self._log_train(running, bar)  # never checkpoint weights that went non-finite
                running = []
                self.save(epoch, epoch_step + 1)
        else:
            bar.close()
            return True, taken
        bar.close()
        self._log_train(running, bar)
        self.save(epoch, epoch_step)
        return False, taken

    def _log_train(self, losses: list[torch.Tensor], bar) -> None:
        if not losses:
            return
        loss = float(torch.stack(losses).mean())
        check_loss(loss, self.step, self._kept())
        bar.set_postfix(loss=f"{loss:.4f}")
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, self.step)
            self.writer.add_scalar("train/lr", learning_rate(self.recipe, self.step, self.total_steps), self.step)

    def end_epoch(self, epoch: int) -> None:
        """Validation of every running member; early stopping at the patience."""
        active = [m for m in self.members if not m.stopped]
        metrics = evaluate_members([m.net for m in active], self.data.val, self.task, self.world, self.job.seed,
                                   self.per_rank_batch, self.job.amp, self.job.channels_last, self.job.loader_workers)
        for i, member in enumerate(active):
            val = metrics[f"member{i}"]
            if self.writer is not None:
                for key, value in val.items():
                    self.writer.add_scalar(f"val/{key}/{self.members.index(member)}", value, self.step)
            if val["loss"] < member.best_val:
                member.best_val, member.bad_epochs = val["loss"], 0
                if self.job.patience:
                    member.best_state = {k: v.detach().clone() for k, v in member.net.state_dict().items()}
            else:
                member.bad_epochs += 1
                if self.job.patience and member.bad_epochs >= self.job.patience:
                    member.stopped = True
                    member.net.load_state_dict(member.best_state)  # eager stop: keep the best weights
        self.save(epoch + 1, 0)

    def train(self) -> bool:
        """Train until the budget is spent (True) or `stop_after` steps were taken (False)."""
        self._started = time.perf_counter()
        epoch, epoch_step = self.restore() if self.job.resume else (0, 0)
        if self.world.is_main:  # after a resume, points the interrupted run logged past its checkpoint go
            self.writer = open_writer(self.out / "tensorboard", self.step if self.job.resume else None)
        steps_left = self.job.stop_after
        try:
            while self.step < self.total_steps and not all(m.stopped for m in self.members):
                finished, taken = self.run_epoch(epoch, epoch_step, steps_left)
                steps_left = None if steps_left is None else steps_left - taken
                if not finished:
                    return False
                self.end_epoch(epoch)
                epoch, epoch_step = epoch + 1, 0
                if steps_left is not None and steps_left <= 0 and self.step < self.total_steps:
                    return False
        finally:
            if self.writer is not None:
                self.writer.close()
        self.train_seconds = self.wall_time()
        return True

    def test(self) -> dict:
        self.bn_recalibrated = recalibrate_if_short(self.nets, self.data.train, self.task, self.world, self.job.seed,
                                                    self.per_rank_batch, self.step)
        return evaluate_members(self.nets, self.data.test, self.task, self.world, self.job.seed, self.per_rank_batch,
                                self.job.amp, self.job.channels_last, self.job.loader_workers)

    def wall_time(self) -> float:
        return self.elapsed + time.perf_counter() - self._started
