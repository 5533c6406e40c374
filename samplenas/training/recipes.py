"""Training recipes for retraining an architecture from scratch, one published default per space.

A recipe is everything about *how* to train (optimiser, schedule, regularisation, network settings);
the architecture and the data say *what*. Defaults follow the papers so a retrained network can be
put beside published numbers; every field can be overridden by a JSON config file or a CLI flag.

Sources (read from the authors' code where the paper is vague):

* nb101 — Ying et al., "NAS-Bench-101" (ICML 2019) §2.3 and google-research/nasbench
  (`nasbench/lib/config.py`, `model_builder.py`): 108 epochs, batch 256, RMSProp (TF1 semantics:
  decay 0.9, momentum 0.9, epsilon 1.0 inside the square root), base learning rate 0.1 scaled
  linearly by the 2 TPU shards (= 0.2), cosine decay by step to 0, L2 weight decay 1e-4 on every
  trainable variable (`wd * sum(v**2) / 2`, which is exactly PyTorch's `weight_decay`), stem 128,
  3 stacks of 3 cells; CIFAR-10 with 40k training images, pad-4 random crop and flip (the data
  module's job). Uncertain: whether RMSProp's decay was TF's default 0.9 (it is not set, so we
  assume the default) and how the learning-rate-0-at-step-0 trick matters (we skip it).
* nasnet — Liu et al., "DARTS" (ICLR 2019) §A.2 / `cnn/train.py`: 600 epochs, batch 96, SGD lr
  0.025 with cosine annealing to 0, momentum 0.9, weight decay 3e-4, cutout 16, drop-path 0.2
  (scaled linearly with the epoch), auxiliary head weight 0.4, 36 channels, 20 cells, gradient
  clipping at norm 5.
* shufflenet — Guo et al., "Single Path One-Shot" (ECCV 2020) and megvii-model's ShuffleNet
  series `train.py` (which SPOS's evaluation follows): ImageNet, batch 1024, SGD lr 0.5 decayed
  linearly to 0, momentum 0.9, weight decay 4e-5, label smoothing 0.1, 300k iterations
  (~240 epochs at 1.28M images). SPOS exempts batch-norm and bias parameters from weight decay;
  we decay every parameter (a small difference, stated here).
* autoencoder — Bhargava & Surana, "Eager Training of Autoencoders in Parallel": Adam, batch
  100, squared error, 100 epochs for the monolithic model; the learning rate is not given, so we
  use Adam's usual 1e-3. Denoising adds Gaussian noise of variance 1/3 (the search task's default).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from samplenas.errors import UserError

TASKS = ("classification", "reconstruction", "denoising")
OPTIMIZERS = ("sgd", "rmsprop_tf", "adam")
SCHEDULES = ("cosine", "linear", "constant", "step")
STEP_DECAY = ((0.5, 0.2), (0.75, 0.2))  # "step": x0.2 at 1/2 and 3/4 of training (Deep-n-Cheap's preset)


@dataclass(frozen=True)
class Recipe:
    """How to train; `network` holds the supernet settings passed to `SUPERNETS[space](**network)`."""

    epochs: int = 1
    batch_size: int = 64  # global: split evenly across processes
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    cutout: int = 0  # side of the zeroed square; 0 = off
    drop_path: float = 0.0  # final drop-path probability, reached linearly over the epochs
    auxiliary_weight: float = 0.0  # weight of the auxiliary head's loss (networks that have one)
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    task: str = "classification"
    noise_std: float = math.sqrt(1.0 / 3.0)  # denoising input noise
    augment: bool = True  # pad-and-crop + flip of RGB training images (the data module's); no effect on gray
    network: dict = field(default_factory=dict)

    def check(self) -> Recipe:
        """Raise UserError naming the first field that cannot work."""
        positive = {"epochs": self.epochs, "batch_size": self.batch_size}
        for name, value in positive.items():
            if not value > 0:
                raise UserError(f"recipe: {name} must be positive, got {value}")
        for name, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("task", TASKS)):
            if getattr(self, name) not in choices:
                raise UserError(f"recipe: unknown {name} {getattr(self, name)!r}; valid: {', '.join(choices)}")
        non_negative = ("lr", "weight_decay", "cutout", "auxiliary_weight", "grad_clip", "noise_std", "momentum")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise UserError(f"recipe: {name} must be >= 0, got {getattr(self, name)}")
        for name in ("label_smoothing", "drop_path"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UserError(f"recipe: {name} must be in [0, 1), got {getattr(self, name)}")
        if not isinstance(self.network, dict):
            raise UserError(f"recipe: network must be an object of supernet settings, got {self.network!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PUBLISHED = {
    "nb101": Recipe(
        epochs=108, batch_size=256, optimizer="rmsprop_tf", lr=0.2, momentum=0.9, weight_decay=1e-4,
        schedule="cosine", network={"stem_channels": 128, "num_stacks": 3, "cells_per_stack": 3},
    ),
    "nasnet": Recipe(
        epochs=600, batch_size=96, optimizer="sgd", lr=0.025, momentum=0.9, weight_decay=3e-4,
        schedule="cosine", cutout=16, drop_path=0.2, auxiliary_weight=0.4, grad_clip=5.0,
        network={"C": 36, "layers": 20, "auxiliary": True},
    ),
    "shufflenet": Recipe(
        epochs=240, batch_size=1024, optimizer="sgd", lr=0.5, momentum=0.9, weight_decay=4e-5,
        schedule="linear", label_smoothing=0.1,
    ),
    "autoencoder": Recipe(
        epochs=100, batch_size=100, optimizer="adam", lr=1e-3, momentum=0.0, schedule="constant",
        task="reconstruction",
    ),
    "dnc": Recipe(  # Deep-n-Cheap's stage 1-2 presets; a DnC result.json overrides lr, weight decay, batch
        epochs=60, batch_size=256, optimizer="adam", lr=1e-3, momentum=0.0, schedule="step", augment=False,
    ),
}

FIELDS = {f.name for f in dataclasses.fields(Recipe)}


def read_config(path: str | Path) -> dict:
    """A JSON object of recipe fields (unknown keys are an error, so typos do not pass silently)."""
    try:
        config = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"config {path}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise UserError(f"config {path}: expected a JSON object of recipe fields")
    return config


def resolve_recipe(space: str, *overrides: Mapping) -> Recipe:
    """The space's published recipe with each mapping of overrides applied in turn.

    `network` overrides merge key by key into the default settings; `None` values are ignored
    (flags the user did not give).
    """
    if space not in PUBLISHED:
        raise UserError(f"no recipe for space {space!r}; valid: {', '.join(sorted(PUBLISHED))}")
    values = PUBLISHED[space].to_dict()
    for override in overrides:
        unknown = set(override) - FIELDS
        if unknown:
            raise UserError(f"unknown recipe field(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(FIELDS))}")
        for name, value in override.items():
            if value is None:
                continue
            values[name] = {**values["network"], **value} if name == "network" else value
    try:
        return Recipe(**values).check()
    except TypeError as err:
        raise UserError(f"recipe: {err}") from None


class RMSpropTF(torch.optim.Optimizer):
    """RMSProp as TensorFlow 1 defines it (what NAS-Bench-101 trained with).

    Differs from `torch.optim.RMSprop` in two ways that matter at epsilon = 1.0: the mean square
    starts at 1 (not 0) and epsilon sits inside the square root:
    ms = rho*ms + (1-rho)*g^2;  mom = momentum*mom + lr*g/sqrt(ms + eps);  w -= mom.
    Weight decay is added to the gradient (the L2 loss term of the original).
    """

    def __init__(self, params: Iterable, lr: float, rho: float = 0.9, momentum: float = 0.9, eps: float = 1.0,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["mean_square"] = torch.ones_like(p)
                    state["momentum"] = torch.zeros_like(p)
                mean_square, mom = state["mean_square"], state["momentum"]
                mean_square.mul_(group["rho"]).addcmul_(grad, grad, value=1 - group["rho"])
                mom.mul_(group["momentum"]).addcdiv_(grad, mean_square.add(group["eps"]).sqrt_(), value=group["lr"])
                p.sub_(mom)
        return loss


def build_optimizer(parameters: Iterable, recipe: Recipe) -> torch.optim.Optimizer:
    params = [p for p in parameters if p.requires_grad]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "rmsprop_tf":
        return RMSpropTF(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def learning_rate(recipe: Recipe, step: int, total_steps: int) -> float:
    """The learning rate for optimiser step `step` of `total_steps` (decay by step, to 0)."""
    progress = min(step / max(total_steps, 1), 1.0)
    if recipe.schedule == "cosine":
        return 0.5 * recipe.lr * (1.0 + math.cos(math.pi * progress))
    if recipe.schedule == "linear":
        return recipe.lr * (1.0 - progress)
    if recipe.schedule == "step":
        return recipe.lr * math.prod(factor for point, factor in STEP_DECAY if progress >= point)
    return recipe.lr


def drop_path_probability(recipe: Recipe, epoch: int) -> float:
    """DARTS schedules drop-path linearly: `drop_path * epoch / epochs` at the start of each epoch."""
    return recipe.drop_path * epoch / recipe.epochs
