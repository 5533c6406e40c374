"""An architecture trained alone, briefly, and scored on the validation images its supernet is scored on.

A finalist's own signal: on NAS-Bench-101 at the end-to-end proxy, 300 steps of each cell alone rank random
cells at Kendall tau 0.58-0.60 (their parameter count 0.54, the supernet 0.25), and the best of a search's ten
best trained so picked 0.19 points higher than the search's own first over 150 searches, never below the
largest-FLOPs cell; on images of half the side, 600 steps rank at 0.76 in less time and pick higher still, so
nb101 trains so by default (docs/results/nb101-ceiling.md, nb101-finalists.md). Too slow to score a whole
search, cheap for its finalists: `search --rescore-top 10 --rescore-scorer standalone`. The NB101 study tools
train with the same loop.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from samplenas.errors import UserError
from samplenas.spaces.base import Arch
from samplenas.training.batches import BatchStream, in_memory_format
from samplenas.training.checkpoint import load_checkpoint, save_checkpoint
from samplenas.training.choices import (
    MIN_STANDALONE_IMAGE_SIZE,
    STANDALONE_DOWNSCALE,
    STANDALONE_LR,
    STANDALONE_STEPS,
)
from samplenas.training.recipes import Recipe, build_optimizer, learning_rate
from samplenas.training.rng_state import capture_rng, restore_rng
from samplenas.training.supernet_eval import score_arch
from samplenas.training.tasks import step_generator

TRAIN_NOISE_KEY = 4_243  # the training inputs' random stream (cutout, denoising noise): the same for every net


def train_alone(net: torch.nn.Module, train_set, task, recipe: Recipe, steps: int, batch_size: int, seed: int,
                channels_last: bool = False, progress: bool = False, checkpoint: Path | None = None,
                every: int = 500) -> tuple[list[float], float]:
    """(training losses, seconds): `net` trained in place with `recipe` (its optimizer, cosine schedule over
    `steps`, label smoothing and clipping) on batches of `train_set` drawn by `seed`, on the net's device.

    With `checkpoint`, the training state (weights, optimizer, data position, random streams, the network's
    own draws `net.draws` if it has them, losses and time so far) is written there atomically every `every`
    steps, and a run that finds one continues from it to the same weights as an uninterrupted run: long
    trainings survive being stopped. The caller checks the checkpoint's settings and removes it."""
    device = next(net.parameters()).device
    optimizer = build_optimizer(net.parameters(), recipe)
    stream = BatchStream(train_set, batch_size, seed)
    draws = getattr(net, "draws", None)
    first, losses, before = 0, [], 0.0
    if checkpoint is not None and checkpoint.exists():
        state = load_checkpoint(checkpoint)
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        stream.load_state_dict(state["stream"])
        restore_rng(state["rng"])
        if draws is not None:
            draws.bit_generator.state = json.loads(state["draws"])
        first, losses, before = int(state["step"]), list(state["losses"]), float(state["seconds"])
        print(f"resuming the training at step {first} of {steps} from {checkpoint}", flush=True)
    started = time.perf_counter()

    def save(step: int) -> None:
        save_checkpoint(checkpoint, {
            "step": step, "net": net.state_dict(), "optimizer": optimizer.state_dict(),
            "stream": stream.state_dict(), "rng": capture_rng(), "losses": losses,
            "draws": "" if draws is None else json.dumps(draws.bit_generator.state),
            "seconds": before + time.perf_counter() - started})

    net.train()
    for step in tqdm(range(first, steps), desc="training", unit="step", disable=not progress, leave=False,
                     mininterval=10, initial=first, total=steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(recipe, step, steps)
        x, y = stream.next()
        x, y = in_memory_format(x.to(device), channels_last), y.to(device)
        inputs, target = task.prepare(x, y, step_generator(device, TRAIN_NOISE_KEY, seed, step), True)
        loss = task.loss(net(inputs), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), recipe.grad_clip)
        optimizer.step()
        losses.append(float(loss.detach()))
        if checkpoint is not None and (step + 1) % every == 0 and step + 1 < steps:
            save(step + 1)
    return losses, round(before + time.perf_counter() - started, 2)


def downscaled_side(side: int, downscale: int) -> int:
    """The image side a standalone training at `downscale` uses; a divisor that leaves a fraction or fewer than
    MIN_STANDALONE_IMAGE_SIZE pixels is refused in one line."""
    if downscale < 1 or side % downscale or (downscale > 1 and side // downscale < MIN_STANDALONE_IMAGE_SIZE):
        raise UserError(f"standalone_downscale {downscale}: the run's {side}-pixel images need a divisor of {side} "
                        f"that leaves at least {MIN_STANDALONE_IMAGE_SIZE} pixels")
    return side // downscale


class StandaloneScorer:
    """`score(arch)`: the architecture's own network (`network(arch)`: without the supernet's search aids,
    the network `cost` counts and the table judges) freshly initialised from the run's seed, trained alone for
    `steps` steps with the run's recipe at peak learning rate `lr` on the run's training split, its BN
    statistics re-estimated and scored on the run's validation images, as the supernet's scores are. Every
    architecture starts from the same seed and sees the same batches, so two scores differ by the
    architectures alone.

    `downscale` K > 1 trains and scores on the run's images with their side divided by K (the same examples
    resized, the validation and calibration images too): on NB101's proxy, 16x16 images for 600 steps rank
    random cells better than 32x32 for 300, in less time (docs/results/nb101-ceiling.md)."""

    def __init__(self, trainer, steps: int = STANDALONE_STEPS, lr: float = STANDALONE_LR,
                 downscale: int = STANDALONE_DOWNSCALE):
        self.trainer, self.steps, self.lr = trainer, int(steps), float(lr)
        side = trainer.data.info.image_size
        self.image_size = downscaled_side(side, int(downscale))
        self.train_set, self.val, self.calibration = trainer.data.train, trainer.val, trainer.calibration
        if self.image_size != side:
            self.train_set = trainer.data.train.resized(self.image_size)
            self.val, self.calibration = trainer.scoring_batches(self.train_set,
                                                                 trainer.data.val.resized(self.image_size))

    def network(self, arch: Arch) -> torch.nn.Module:
        """The architecture's deployed network, initialised from the run's seed, on the run's device."""
        torch.manual_seed(self.trainer.config.seed)
        net = self.trainer.supernet.deployed_network(arch).to(self.trainer.device)
        return net.to(memory_format=torch.channels_last) if self.trainer.config.channels_last else net

    def score(self, arch: Arch) -> dict:
        trainer = self.trainer
        config = trainer.config
        net = self.network(arch)
        losses, seconds = train_alone(net, self.train_set, trainer.task, replace(trainer.recipe, lr=self.lr),
                                      self.steps, config.batch_size, config.seed, config.channels_last)
        metrics = score_arch(net, None, trainer.task, self.val, self.calibration, trainer.amp)
        return {"score": metrics["score"], **{f"standalone_{k}": v for k, v in metrics.items() if k != "score"},
                "standalone_train_loss": float(np.mean(losses[-50:])), "standalone_steps": self.steps,
                "standalone_image_size": self.image_size,
                "standalone_seconds": seconds}
