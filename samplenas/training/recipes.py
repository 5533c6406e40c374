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
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from samplenas.errors import UserError
from samplenas.training import typed_config
from samplenas.training.typed_config import bounded

if TYPE_CHECKING:  # torch only in annotations: the CLI reads recipes to build its parser, without torch
    import torch

TASKS = ("classification", "reconstruction", "denoising")
OPTIMIZERS = ("sgd", "rmsprop_tf", "adam")
SCHEDULES = ("cosine", "linear", "constant", "step")
STEP_DECAY = ((0.5, 0.2), (0.75, 0.2))  # "step": x0.2 at 1/2 and 3/4 of training (Deep-n-Cheap's preset)


@dataclass(frozen=True)
class Recipe:
    """How to train; `network` holds the supernet settings passed to `SUPERNETS[space](**network)`."""

    epochs: int = bounded(1, ge=1)
    batch_size: int = bounded(64, ge=1)  # global: split evenly across processes
    optimizer: str = "sgd"
    lr: float = bounded(0.1, gt=0, le=typed_config.MAX_LR)  # 0 would train nothing
    momentum: float = bounded(0.9, ge=0)
    weight_decay: float = bounded(0.0, ge=0)
    schedule: str = "cosine"
    label_smoothing: float = bounded(0.0, ge=0, lt=1)
    cutout: int = bounded(0, ge=0)  # side of the zeroed square; 0 = off
    drop_path: float = bounded(0.0, ge=0, lt=1)  # final drop-path probability, reached linearly over the epochs
    auxiliary_weight: float = bounded(0.0, ge=0)  # weight of the auxiliary head's loss (networks that have one)
    grad_clip: float = bounded(0.0, ge=0)  # max gradient norm; 0 = off
    task: str = "classification"
    noise_std: float = bounded(math.sqrt(1.0 / 3.0), ge=0)  # denoising input noise
    augment: bool = True  # pad-and-crop + flip of RGB training images (the data module's); no effect on gray
    network: dict = field(default_factory=dict)

    def check(self) -> Recipe:
        """Raise UserError naming the first field that cannot work."""
        typed_config.check_fields(self, "recipe")
        for name, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("task", TASKS)):
            if getattr(self, name) not in choices:
                raise UserError(f"recipe: unknown {name} {getattr(self, name)!r}; valid: {', '.join(choices)}")
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
    """A JSON object of recipe fields (strict JSON; unknown keys and wrong types are refused later)."""
    return typed_config.read_object(path, "config")


def plugin_recipe(space: str) -> Recipe:
    """A plugin's space has no published recipe: its supernet class may carry one as a `recipe` dict of
    Recipe fields (Recipe's defaults otherwise), so plugin spaces retrain like the built-in ones."""
    from samplenas.registry import BUILT_IN
    from samplenas.supernet import SUPERNETS

    if space not in SUPERNETS or SUPERNETS.origin(space) == BUILT_IN:
        raise UserError(f"no recipe for space {space!r}; valid: {', '.join(sorted(PUBLISHED))}")
    fields = getattr(SUPERNETS[space], "recipe", None) or {}
    return Recipe(**typed_config.build(Recipe, fields, f"{space} supernet's recipe"))


def resolve_recipe(space: str, *overrides: Mapping) -> Recipe:
    """The space's published recipe with each mapping of overrides applied in turn.

    `network` overrides merge key by key into the default settings; `None` values are ignored
    (flags the user did not give).
    """
    values = (PUBLISHED[space] if space in PUBLISHED else plugin_recipe(space)).to_dict()
    for override in overrides:
        override = typed_config.build(Recipe, override, "recipe", partial=True)
        for name, value in override.items():
            if value is None:
                continue
            values[name] = {**values["network"], **value} if name == "network" else value
    try:
        return Recipe(**values).check()
    except TypeError as err:
        raise UserError(f"recipe: {err}") from None


def build_optimizer(parameters: Iterable, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimiser over the trainable `parameters` (torch is imported here, not above)."""
    import torch

    from samplenas.training.optimizers import RMSpropTF

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
