"""Batch-norm recalibration: re-estimate running statistics for one sampled subnet (as SPOS does).

Shared BN statistics average over every path trained; before a subnet is evaluated its own
statistics are re-estimated on a few training batches, with the weights untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_bn(model: nn.Module, arch, batches: Iterable) -> int:
    """Reset every BN layer's statistics and re-estimate them as an exact average over `batches`.

    `model` is a supernet (called as `model(x, arch)`) or a standalone subnet (`arch=None`).
    `batches` yields tensors or (input, target) pairs. Returns the number of batches used;
    the model is left in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved_momentum = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = exact mean over the batches seen
    model.train()
    used = 0
    try:
        for batch in batches:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            x = x.to(next(model.parameters()).device)
            model(x) if arch is None else model(x, arch)
            used += 1
    finally:
        for m, momentum in zip(norms, saved_momentum):
            m.momentum = momentum
        model.eval()
    return used


def initial_stats_weight(model: nn.Module, steps: int) -> float:
    """How much the initial running statistics (mean 0, variance 1) still weigh after `steps` training
    steps: max over BN layers of (1 - momentum)^steps. NB101's TF momentum 0.997 (torch 0.003) leaves
    5 % after 1,000 steps, so a short retrain tests with statistics that never saw the data."""
    weights = [(1.0 - m.momentum) ** steps for m in model.modules()
               if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and m.momentum]
    return max(weights, default=0.0)
