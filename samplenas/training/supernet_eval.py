"""Score one architecture on a trained supernet: optional BN recalibration, then a fixed
validation set. Training (the sampler's feedback), search and ranking all use this one function,
so their scores are comparable."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
import torch

from samplenas.spaces.base import Arch
from samplenas.supernet.base import Supernet
from samplenas.supernet.bn import recalibrate_bn
from samplenas.training.batches import in_memory_format, iterate_batches
from samplenas.training.tasks import step_generator

EVAL_NOISE_KEY = 9_191  # denoising noise of the validation images: the same for every architecture

Batch = tuple[torch.Tensor, torch.Tensor]


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on a GPU (no loss scaling needed), nothing on CPU."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def fixed_batches(dataset, indices, batch_size: int, device: torch.device, channels_last: bool = False) -> list[Batch]:
    """Batches loaded once and kept on `device` (evaluation reuses them for every architecture)."""
    return [(in_memory_format(x.to(device), channels_last), y.to(device))
            for x, y in iterate_batches(dataset, indices, batch_size)]


def validation_batches(dataset, batch_size: int, examples: int, device: torch.device,
                       channels_last: bool = False) -> list[Batch]:
    """The first `examples` validation examples; the split's stored order is class-stratified (data.py)."""
    return fixed_batches(dataset, np.arange(min(len(dataset), int(examples))), batch_size, device, channels_last)


def calibration_batches(dataset, batch_size: int, count: int, seed: int, device: torch.device,
                        channels_last: bool = False) -> list[Batch]:
    """`count` training batches of a fixed seeded permutation, for BN recalibration."""
    if count == 0:
        return []
    order = np.random.default_rng([seed, 7]).permutation(len(dataset))
    return fixed_batches(dataset, order[: count * batch_size], batch_size, device, channels_last)


@torch.no_grad()
def score_arch(supernet: Supernet, arch: Arch, task, val: Sequence[Batch], calibration: Sequence[Batch],
               amp: bool = False) -> dict:
    """{"score": higher is better (accuracy, or 1 / MSE for reconstruction), plus the task's metrics}.

    BN statistics are re-estimated on `calibration` first when it is non-empty (SPOS); otherwise the
    supernet's running statistics are used. The supernet is left in eval mode. `arch` None: `supernet` is a
    network of its own (called as `supernet(x)`), e.g. a cell trained alone.
    """
    device = next(supernet.parameters()).device
    if calibration:
        inputs = [task.prepare(x, y, step_generator(device, EVAL_NOISE_KEY, 1, i), train=False)[0]
                  for i, (x, y) in enumerate(calibration)]
        with autocast(device, amp):
            recalibrate_bn(supernet, arch, inputs)
    supernet.eval()
    sums: dict[str, float] = defaultdict(float)
    for i, (x, y) in enumerate(val):
        inputs, target = task.prepare(x, y, step_generator(device, EVAL_NOISE_KEY, 0, i), train=False)
        with autocast(device, amp):
            output = supernet(inputs) if arch is None else supernet(inputs, arch)
        for name, value in task.metric_sums(task.scores(output), target).items():
            sums[name] += value
    metrics = task.summarize(dict(sums))
    score = metrics["accuracy"] if "accuracy" in metrics else metrics["inverse_loss"]
    return {"score": float(score), **metrics}
