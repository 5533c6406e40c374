"""Autoencoder blocks: every step of the network (conv, dropout, reduction, dilation) with its
activation and pooling, keyed by its kind, kernel, output channels and the tensor it receives.

A step's cost does not depend on its position, only on what it computes, so steps of equal key
share an entry; the channels a step can receive or emit are the input's and the four filter counts
(times 2^j inside the reductions). Fixed part: the final tanh.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from samplenas.hardware.blocks.base import Block, BlockSpec
from samplenas.spaces.autoencoder import FILTERS, KERNELS, AutoencoderSpace
from samplenas.spaces.base import Arch
from samplenas.supernet.autoencoder import (
    DECODE,
    DILATE,
    DROPOUT,
    ENCODE,
    REDUCE,
    Step,
    autoencoder_steps,
    fresh_op,
    run_step,
)


class StepModule(nn.Module):
    """One step as `run_steps` runs it (without the gate, which is 1 at inference)."""

    def __init__(self, step: Step):
        super().__init__()
        self.step, self.op = step, fresh_op(step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_step(self.step, self.op, x)


class AutoencoderBlocks(BlockSpec):
    space_name = "autoencoder"

    def __init__(self, settings: dict):
        self.in_channels, self.image_size = settings["in_channels"], settings["image_size"]
        self.space = AutoencoderSpace(**{k: settings[k] for k in ("max_layers", "num_reductions")
                                         if settings.get(k) is not None})
        self.steps = {self._block(step).key: step for step in self._every_step()}

    def _size(self, step: Step) -> int:
        if step.kind == REDUCE:
            return self.image_size // 2**step.slot
        if step.kind == DILATE:
            return self.image_size // 2 ** (step.slot + 1)
        return self.image_size

    def _block(self, step: Step) -> Block:
        size = self._size(step)
        activation = "+relu" if step.relu else ""
        choice = "identity" if step.kind == DROPOUT else f"k{step.kernel}:{step.out_channels}{activation}"
        return Block(step.kind, choice, (step.in_channels, size, size))

    def _every_step(self) -> list[Step]:
        channels = sorted({self.in_channels, *FILTERS})
        reductions = range(self.space.num_reductions)
        relu = (True, False)
        return (
            [Step(ENCODE, 0, c_in, c_out, k, True) for c_in, c_out, k in itertools.product(channels, FILTERS, KERNELS)]
            + [Step(DECODE, 0, c_in, c_out, k, r)
               for c_in, c_out, k, r in itertools.product(FILTERS, channels, KERNELS, relu)]
            + [Step(DROPOUT, 0, c, c) for c in channels]
            + [Step(REDUCE, j, c * 2**j, c * 2 ** (j + 1), 1, True) for c, j in itertools.product(channels, reductions)]
            + [Step(DILATE, j, c * 2 ** (j + 1), c * 2**j, 2, r)
               for c, j, r in itertools.product(channels, reductions, relu)]
        )

    def table_blocks(self) -> list[Block]:
        return [self._block(step) for step in self.steps.values()]

    def arch_blocks(self, arch: Arch) -> list[Block]:
        steps = autoencoder_steps(self.space.layers(arch), self.in_channels, self.space.num_reductions)
        return [self._block(step) for step in steps]

    def fixed_parts(self) -> list[Block]:
        return [Block("output", "tanh", (self.in_channels, self.image_size, self.image_size))]

    def make(self, block: Block):
        if block.slot == "output":
            return nn.Tanh(), [block.input_shape]
        return StepModule(self.steps[block.key]), [block.input_shape]
