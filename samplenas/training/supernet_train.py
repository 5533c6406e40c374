"""Supernet training with a sampler in the loop (VAENAS Algorithms 2 and 3).

One-shot mode (Algorithm 2): every step draws an architecture from the sampler (a whole group for
FairNAS, whose gradients are accumulated before one update) and trains its path of the shared
weights on a training batch. Every `eval_every` steps, `eval_archs` architectures drawn from the
sampler are scored on the held-out validation split (after BN recalibration) and the scores are fed
back to `sampler.observe`; a mixture sampler raises its epsilon as it goes.

Gradient mode (Algorithm 3): each step is a weight step on a training batch followed by an
architecture step: the sampler's straight-through gates carry the validation loss of a drawn path
back to its logits (`sample_with_gates` / `step`, the Gumbel and multinomial samplers).

Sandwich rule (`sandwich`, BigNAS): each step also trains the largest and smallest paths (by parameters)
on the same batch, before the sampler's; with `inplace_distill` those others learn from the largest's
predictions instead of the labels (training/sandwich.py).

Budget (`max_params`, `max_macs`, `max_latency_ms`): the sampler proposes only architectures within
it, so the shared weights are trained on the paths a user deploying under that budget can use.

Zero-cost proxies: a proxy filter inside the sampler (`proxy-filter`) gets its scorer here, on fresh
networks of this supernet's size and one fixed training minibatch (`attach_proxies`); the scorer
leaves every random stream alone, so resume stays exact.

Exact resume: a checkpoint holds the weights, optimiser, sampler state, every global RNG and the
data streams' (epoch, position); the learning rate is a pure function of the step and per-step
noise comes from `step_generator(seed, step)`. A run killed at any point and resumed from its last
checkpoint therefore ends with bitwise the same weights as an uninterrupted run (on CPU).

Many processes (`torchrun --nproc_per_node=P -m samplenas train ...`, gloo on CPU, NCCL on GPU):
every process holds a replica of the supernet and of the sampler (built from the same seed, so they
draw the same architectures), takes its 1/P shard of each global training batch and trains a path
on it; gradients are averaged by `all_reduce_gradients` (not DDP's wrapper: see its docstring).
`rank_archs="same"`: every process trains the step's architecture(s), batch norm is synchronised
over the global batch (`GlobalSlicedBatchNorm2d`), and a step equals one process's step on the
global batch up to rounding. `rank_archs="different"`: each process trains its own path (a FairNAS
group is spread over the processes: lcm(m, P) paths per step), batch norm uses the process's shard
and the BN statistics are averaged after the step. Evaluation rounds are split over the processes
and gathered; rank 0 alone calls `observe` and sends the sampler's new state to the others; rank 0
alone writes files; a checkpoint keeps every process's RNG state, so `--resume` with the same P is
exact. In gradient mode the logits' gradients are averaged over processes before the logits' step.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from samplenas.errors import UserError
from samplenas.spaces.base import Arch
from samplenas.supernet.factory import make_supernet, network_settings
from samplenas.training.batches import in_memory_format
from samplenas.training.budgets import supernet_budget
from samplenas.training.checkpoint import CHECKPOINT, first_non_finite, load_checkpoint, save_checkpoint, save_json
from samplenas.training.data import load_dataset
from samplenas.training.devices import resolve_device
from samplenas.training.distributed import (
    ShardedBatchStream,
    World,
    all_reduce_gradients,
    average_buffers,
    broadcast_buffers,
    broadcast_object,
    convert_sync_batchnorm,
    gather_objects,
    local_batch_norm,
    on_main,
    rank_archs_per_step,
    reduce_sums,
)
from samplenas.training.fit import check_loss
from samplenas.training.recipes import build_optimizer, learning_rate
from samplenas.training.rng_state import capture_rng, restore_rng
from samplenas.training.sandwich import distillation_loss, extreme_archs
from samplenas.training.schema import STATE_ERRORS, check_checkpoint
from samplenas.training.schema import SUPERNET as SUPERNET_SCHEMA
from samplenas.training.supernet_eval import (
    autocast,
    calibration_batches,
    score_arch,
    validation_batches,
)
from samplenas.training.supernet_sampler import attach_proxies, learned_part, make_sampler, sampler_stats
from samplenas.training.tasks import make_task, step_generator
from samplenas.training.tensorboard import open_writer
from samplenas.training.train_config import TrainConfig

FORMAT = "samplenas-supernet-1"
CONFIG = "config.json"
KEPT_CHECKPOINTS = "checkpoints"  # with keep_checkpoints: every checkpoint, as stepNNNNNNN.pt
SUMMARY = "summary.json"
TENSORBOARD = "tensorboard"
# Settings that may change on --resume without changing the trajectory.
# channels_last changes the memory layout only: results equal up to float rounding.
BOOKKEEPING = frozenset({"checkpoint_every", "keep_checkpoints", "log_every", "loader_workers", "device", "download",
                         "data_dir", "channels_last", "workers"})  # workers: loader_workers in runs saved before


class SupernetTrainer:
    """Builds the data, supernet, sampler and optimiser of a `TrainConfig`; `train(out)` runs it."""

    def __init__(self, config: TrainConfig, progress: bool = True, world: World | None = None):
        """`world`: the processes of a torchrun launch (`distributed.init_world`); one process by default."""
        self.config = config.check()
        self.world = world or World()
        self.progress = progress and self.world.is_main
        self.label = f"{config.space}/{config.sampler}"  # the progress bar's
        self.device = self.world.device if self.world.distributed else resolve_device(config.device)
        self.amp = config.amp and self.device.type == "cuda"
        self.recipe = config.recipe()
        self.data = load_dataset(config.data, config.data_dir, ("train", "val"), val_fraction=config.val_fraction,
                                 seed=config.seed, download=config.download, image_size=config.image_size,
                                 augment=config.augment, limit=config.limit)
        self.data = self.data.to(self.device)
        self.task = make_task(self.recipe, self.data.info)
        torch.manual_seed(config.seed)
        self.supernet = make_supernet(config.space, network_settings(config.space, self.recipe.network, self.data.info))
        self.different = self.world.distributed and config.rank_archs == "different"
        if self.world.distributed and not self.different:
            self.supernet = convert_sync_batchnorm(self.supernet)  # same path everywhere: global BN statistics
        self.supernet.to(self.device)
        if config.channels_last:
            self.supernet.to(memory_format=torch.channels_last)
        self.space = self.supernet.space
        self.budget = supernet_budget(self.supernet, config.max_params, config.max_macs, config.max_latency_ms,
                                      config.latency_table)
        self.sampler = attach_proxies(make_sampler(config, self.space), self.supernet, self.task, self.data.train,
                                      config.seed).constrain(self.budget)
        # the sandwich rule's (largest, smallest) paths, trained every step before the sampler's
        self.extremes = extreme_archs(self.supernet, config.seed, self.budget) if config.sandwich else ()
        self.raises_epsilon = getattr(self.sampler, "name", "") == "mixture" and not self.sampler.auto_step
        if config.mode == "gradient" and not hasattr(learned_part(self.sampler), "sample_with_gates"):
            raise UserError(f"gradient mode needs a sampler with straight-through gates (gumbel, multinomial), "
                            f"not {config.sampler!r}")
        self.optimizer = build_optimizer(self.supernet.parameters(), self.recipe)
        if self.world.distributed:
            torch.manual_seed(config.seed * 1_000 + 999 + self.world.rank)  # this process's dropout stream
        self.stream = ShardedBatchStream(self.data.train, config.batch_size, config.seed, config.loader_workers,
                                         self.world)
        val_batch = min(config.batch_size, len(self.data.val))
        if config.mode == "gradient" and val_batch % self.world.size:
            raise UserError(f"the architecture steps' validation batch ({val_batch}) is not divisible by the "
                            f"{self.world.size} processes")
        self.val_stream = ShardedBatchStream(self.data.val, val_batch, config.seed + 1, 0, self.world)
        self.archs_per_step = rank_archs_per_step(int(getattr(self.sampler, "group_size", 1)), self.world,
                                                  self.different)
        self.val, self.calibration = self.scoring_batches(self.data.train, self.data.val)
        self.step = 0
        self.evaluations: list[dict] = []  # one summary per evaluation round
        self.seconds: dict[str, float] = defaultdict(float)  # time spent per activity
        self.last_checkpoint: int | None = None
        self.loaded_from: str | None = None  # the checkpoint `load_state_dict` read, if any
        # callables (supernet, inputs, target) -> loss added to every step's loss before the update; their
        # gradients join the paths' (used by tools/landmarks_nb101.py); none by default
        self.regularizers: list = []

    def scoring_batches(self, train, val) -> tuple[list, list]:
        """(validation, BN calibration) batches of these training and validation sets, as the run scores
        architectures: its first eval_examples validation examples, its bn_batches seeded training batches."""
        config = self.config
        return (validation_batches(val, config.eval_batch_size, config.eval_examples, self.device,
                                   config.channels_last),
                calibration_batches(train, config.batch_size, config.bn_batches, config.seed, self.device,
                                    config.channels_last))

    def with_eval_examples(self, eval_examples: int) -> SupernetTrainer:
        """This trainer scoring on its first `eval_examples` validation examples: the same supernet, data and
        state (shared, not copied), new validation batches. It scores exactly as the run opened again with
        that many examples would, without loading the data set again (search's second, finer scoring)."""
        view = copy.copy(self)
        view.config = dataclasses.replace(self.config, eval_examples=eval_examples).check()
        view.val, view.calibration = view.scoring_batches(self.data.train, self.data.val)
        return view

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "format": FORMAT,
            "config": self.config.to_dict(),
            "step": self.step,
            "model": self.supernet.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "stream": self.stream.state_dict(),
            "val_stream": self.val_stream.state_dict(),
            "rng": capture_rng(),
            "evaluations": json.loads(json.dumps(self.evaluations)),
            "seconds": dict(self.seconds),
            "world_size": self.world.size,
        }

    def load_state_dict(self, state: dict, source: str = "checkpoint", may_differ: Iterable[str] = ()) -> None:
        """`may_differ`: settings the checkpoint's config need not match (how open_run's overrides score)."""
        check_checkpoint(state, SUPERNET_SCHEMA, source)  # keys and types, before any tensor is used
        check_same_config(state.get("config", {}), self.config.to_dict(), source, may_differ)
        rank_rngs = state.get("rank_rngs")  # every process's RNG state, from a multi-process run
        try:
            self.supernet.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.sampler.load_state_dict(state["sampler"])
            self.stream.load_state_dict(state["stream"])
            self.val_stream.load_state_dict(state["val_stream"])
            restore_rng(state["rng"] if rank_rngs is None else rank_rngs[self.world.rank])
        except STATE_ERRORS as err:
            reason = (str(err).splitlines() or [type(err).__name__])[0]
            raise UserError(f"{source} does not match this run ({reason})") from None
        self.step = int(state["step"])
        self.evaluations = list(state["evaluations"])
        self.seconds = defaultdict(float, state["seconds"])
        self.last_checkpoint = self.step
        self.loaded_from = source

    def save(self, out: Path) -> None:
        """Checkpoint, unless the weights went non-finite (then the previous checkpoint stays)."""
        if first_non_finite(self.supernet) is not None:  # weights or BN statistics
            self._check_finite(math.nan, out)
        state = self.state_dict()
        if self.world.distributed:
            state["rank_rngs"] = gather_objects(state["rng"], self.world)
        if self.world.is_main:
            save_checkpoint(out / CHECKPOINT, state)
            if self.config.keep_checkpoints:  # a hard link: the next save replaces checkpoint.pt, not this file
                kept = out / KEPT_CHECKPOINTS / f"step{self.step:07d}.pt"
                kept.parent.mkdir(exist_ok=True)
                kept.unlink(missing_ok=True)
                os.link(out / CHECKPOINT, kept)
        self.last_checkpoint = self.step

    # --- one step --------------------------------------------------------------------------------
    def _set_lr(self) -> float:
        lr = learning_rate(self.recipe, self.step, self.config.steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _check_finite(self, loss: float, out: Path) -> None:
        if math.isfinite(loss):
            return
        if self.last_checkpoint is None:
            kept = "no checkpoint was written yet"
        else:
            kept = f"the last good checkpoint is {out / CHECKPOINT} (step {self.last_checkpoint})"
        check_loss(loss, self.step + 1, f"stopped, {kept}")

    def _draw(self) -> list[Arch]:
        """This process's architectures of the step (all of them unless each process trains its own)."""
        started = time.perf_counter()
        archs = self.sampler.sample(self.archs_per_step)
        self.seconds["sampler"] += time.perf_counter() - started
        return archs[self.world.rank::self.world.size] if self.different else archs

    def _generator(self, *keys: int) -> torch.Generator:
        """Per-step randomness (cutout, denoising noise); each process draws its own for its shard."""
        rank = (self.world.rank,) if self.world.distributed else ()
        return step_generator(self.device, self.config.seed, self.step, *keys, *rank)

    def train_step(self, out: Path) -> dict:
        """One update of the shared weights (plus one logits update in gradient mode)."""
        archs = self._draw()
        lr = self._set_lr()
        x, y = self.stream.next()
        x = in_memory_format(x.to(self.device, non_blocking=True), self.config.channels_last)
        y = y.to(self.device, non_blocking=True)
        inputs, target = self.task.prepare(x, y, self._generator(), True)
        self.supernet.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, correct = 0.0, 0.0
        paths = [*self.extremes, *archs]
        teacher = None  # in-place distillation: the largest path's predictions, once it has run
        for arch in paths:
            with autocast(self.device, self.amp):
                output = self.supernet(inputs, arch)
                loss = (self.task.loss(output, target) if teacher is None
                        else distillation_loss(output, teacher)) / len(paths)
            loss.backward()
            if self.config.inplace_distill and teacher is None:
                teacher = output.detach()
            total += float(loss.detach())
            if self.task.name == "classification":
                correct += float((output.argmax(dim=1) == target).float().mean()) / len(paths)
        # extra losses on the same batch (e.g. landmark ranking), before the gradients are averaged over
        # processes, so that every replica applies the same update
        for regularizer in self.regularizers:
            with autocast(self.device, self.amp):
                extra = regularizer(self.supernet, inputs, target)
            if extra.requires_grad:  # a regularizer may sit a step out with a plain zero
                extra.backward()
            total += float(extra.detach())  # the step's loss is the whole objective
        if self.world.distributed:
            all_reduce_gradients(self.supernet.parameters(), self.world)
            means = reduce_sums({"loss": total, "correct": correct}, self.world)
            total, correct = means["loss"] / self.world.size, means["correct"] / self.world.size
        self._check_finite(total, out)
        if self.recipe.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.recipe.grad_clip)
        self.optimizer.step()
        if self.different:
            average_buffers(self.supernet, self.world)
        metrics = {"train/loss": total, "train/lr": lr}
        if self.task.name == "classification":
            metrics["train/accuracy"] = correct
        if self.config.mode == "gradient":
            metrics["train/arch_loss"] = self.arch_step()
        if self.raises_epsilon:
            self.sampler.step()  # Algorithm 2 line 11
        self.step += 1
        return metrics

    def arch_step(self) -> float:
        """Algorithm 3: the validation loss of a gated path updates the sampler's logits only."""
        learned = learned_part(self.sampler)
        started = time.perf_counter()
        drawn = [learned.sample_with_gates() for _ in range(self.world.size if self.different else 1)]
        arch, gates = drawn[self.world.rank if self.different else 0]
        x, y = self.val_stream.next()
        x = in_memory_format(x.to(self.device), self.config.channels_last)
        inputs, target = self.task.prepare(x, y.to(self.device), self._generator(1), True)
        with autocast(self.device, self.amp):
            loss = self.task.loss(self.supernet(inputs, arch, gates.to(self.device)), target)
        loss.backward(inputs=list(learned.parameters()))
        all_reduce_gradients(learned.parameters(), self.world)
        learned.step()
        self.seconds["arch_step"] += time.perf_counter() - started
        value = float(loss.detach())
        return reduce_sums({"loss": value}, self.world)["loss"] / self.world.size

    # --- evaluation rounds ---------------------------------------------------------------------------
    def score(self, arch: Arch, calibrate: bool = True) -> dict:
        return score_arch(self.supernet, arch, self.task, self.val, self.calibration if calibrate else [], self.amp)

    def evaluation_round(self) -> dict:
        """Algorithm 2 lines 6-9: score N_s sampled architectures and feed them back to the sampler."""
        started = time.perf_counter()
        archs = self.sampler.sample(self.config.eval_archs)
        sampled = time.perf_counter()
        scores = self._score_spread(archs)
        scored = time.perf_counter()
        if self.config.mode == "one-shot":
            if self.world.is_main:
                self.sampler.observe(archs, scores)
            state = broadcast_object(self.sampler.state_dict() if self.world.is_main else None, self.world)
            if not self.world.is_main:
                self.sampler.load_state_dict(state)
        self.seconds["sampler"] += (sampled - started) + (time.perf_counter() - scored)
        self.seconds["evaluation"] += scored - sampled
        best = int(np.argmax(scores))
        summary = {"step": self.step, "mean": float(np.mean(scores)), "max": scores[best],
                   "min": float(np.min(scores)), "best_arch": self.space.to_str(archs[best]),
                   "scores": scores, **sampler_stats(self.sampler)}
        derived = getattr(learned_part(self.sampler), "derived", None)
        if callable(derived):  # gradient-based NAS reports the argmax architecture each round (DARTS, GDAS)
            summary["derived_arch"] = self.space.to_str(derived())
        self.evaluations.append(summary)
        return summary

    def _score_spread(self, archs: list[Arch]) -> list[float]:
        """Scores of `archs`, process r scoring archs r, r + P, ...; gathered in order on every process.

        Each process recalibrates BN on its own for its architectures (`local_batch_norm`); afterwards
        every process takes the statistics of the process that scored the last one, as one process
        scoring them all in turn would hold.
        """
        size, rank = self.world.size, self.world.rank
        with local_batch_norm():
            mine = [self.score(arch)["score"] for arch in archs[rank::size]]
        if not self.world.distributed:
            return mine
        parts = gather_objects(mine, self.world)
        broadcast_buffers(self.supernet, self.world, (len(archs) - 1) % size)
        return [parts[i % size][i // size] for i in range(len(archs))]

    # --- the run ---------------------------------------------------------------------------------------
    def train(self, out: str | Path, resume: bool = False) -> dict:
        out = Path(out)
        if resume:
            state = load_checkpoint(out / CHECKPOINT)
            saved_world = state.get("world_size", 1)
            if saved_world != self.world.size:  # per-process RNG streams and paths: exact only with the same P
                raise UserError(f"{out / CHECKPOINT} was written by {saved_world} process(es); resume it with the "
                                f"same number (torchrun --nproc_per_node={saved_world}), not {self.world.size}")
            self.load_state_dict(state, str(out / CHECKPOINT))
        on_main(lambda: self._prepare(out, resume), self.world)
        writer = None
        if self.world.is_main:
            writer = open_writer(out / TENSORBOARD, self.step if resume else None)
        config = self.config
        started = time.perf_counter()
        bar = tqdm(total=config.steps, initial=self.step, disable=not self.progress, unit="step",
                   desc=self.label, dynamic_ncols=True)
        try:
            while self.step < config.steps:
                metrics = self.train_step(out)
                bar.update(1)
                if (self.step % config.log_every == 0 or self.step == config.steps) and writer is not None:
                    self._log(writer, metrics)
                    bar.set_postfix(loss=f"{metrics['train/loss']:.3f}")
                if config.eval_every and self.step % config.eval_every == 0:
                    evaluation = self.evaluation_round()
                    if writer is not None:
                        self._log_evaluation(writer, evaluation)
                if self.step % config.checkpoint_every == 0 and self.step < config.steps:
                    self.save(out)
        finally:
            bar.close()
            self.seconds["total"] += time.perf_counter() - started
            if writer is not None:
                writer.flush()
                writer.close()
        self.save(out)
        summary = self.summary(out)
        if self.world.is_main:
            save_json(out / SUMMARY, summary)
        return summary

    def _prepare(self, out: Path, resume: bool) -> None:
        """OUT with this run's config.json (rank 0 only; `on_main` stops every process on its error)."""
        if not resume and (out / CHECKPOINT).exists():
            raise UserError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        save_json(out / CONFIG, self.config.to_dict())

    def _log(self, writer, metrics: dict) -> None:
        for name, value in metrics.items():
            writer.add_scalar(name, value, self.step)
        for name, value in sampler_stats(self.sampler).items():
            writer.add_scalar(f"sampler/{name}", value, self.step)

    def _log_evaluation(self, writer, summary: dict) -> None:
        for name in ("mean", "max", "min"):
            writer.add_scalar(f"eval/score_{name}", summary[name], self.step)
        writer.add_histogram("eval/scores", np.asarray(summary["scores"]), self.step)

    def summary(self, out: Path) -> dict:
        total = self.seconds.get("total", 0.0)
        shares = {name: value / total for name, value in self.seconds.items() if name != "total" and total > 0}
        last = self.evaluations[-1] if self.evaluations else None
        derived = getattr(learned_part(self.sampler), "derived", None)
        return {
            "derived_arch": self.space.to_str(derived()) if callable(derived) else None,
            "space": self.config.space, "sampler": self.config.sampler, "data": self.config.data,
            "mode": self.config.mode, "steps": self.step, "device": str(self.device), "processes": self.world.size,
            "seconds": round(total, 3), "steps_per_second": self.step / total if total > 0 else None,
            "time_shares": shares,
            "last_evaluation": None if last is None else {k: v for k, v in last.items() if k != "scores"},
            "supernet_parameters": sum(p.numel() for p in self.supernet.parameters()),
            "checkpoint": str(out / CHECKPOINT), "tensorboard": str(out / TENSORBOARD),
        }


def check_same_config(saved: dict, current: dict, source: str, may_differ: Iterable[str] = ()) -> None:
    """UserError naming the first setting that differs, except bookkeeping ones and `may_differ`. A
    setting the saved config lacks (written before the setting existed) counts as its default."""
    defaults = TrainConfig(space="", sampler="").to_dict()
    for name in sorted(set(saved) | set(current)):
        if name in BOOKKEEPING or name in may_differ:
            continue
        if saved.get(name, defaults.get(name)) != current.get(name):
            raise UserError(f"{source} was written with {name}={saved.get(name)!r}, "
                            f"but this run has {name}={current.get(name)!r}")
