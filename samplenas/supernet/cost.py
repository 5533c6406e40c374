"""Parameter and multiply-add counting by forward hooks on one dummy input.

Counts the multiply-adds of convolutions, transposed convolutions and linear layers (the usual
convention of SPOS/DARTS/NAS-Bench-101 reports); batch norm, pooling and activations are not counted.
"""

from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, input_shape: tuple[int, ...], forward_args: tuple = ()) -> int:
    """Multiply-adds of one forward pass on a single input of shape `input_shape` (no batch dim)."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output):
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1]
        total += output.numel() * (module.in_channels // module.groups) * kernel

    def transpose_hook(module: nn.ConvTranspose2d, inputs, output):
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1]
        total += inputs[0].numel() * (module.out_channels // module.groups) * kernel

    def linear_hook(module: nn.Linear, inputs, output):
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.ConvTranspose2d):
            handles.append(module.register_forward_hook(transpose_hook))
        elif isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape), *forward_args)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return int(total)


def count_cost(model: nn.Module, input_shape: tuple[int, ...]) -> dict:
    return {"params": count_params(model), "macs": count_macs(model, input_shape)}
