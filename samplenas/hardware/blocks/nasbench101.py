"""NAS-Bench-101 cell blocks: what a vertex costs depends on the cell's topology, not only its op.

The official builder splits a cell's output channels among the vertices that feed the output and
gives the others the widest of their successors, so a vertex's width (and so its conv's cost) is a
function of the graph. Blocks are therefore keyed by op and the tensor it receives: a vertex op
(conv3x3, conv1x1, maxpool3x3) at its width, the 1x1 projection of the cell input to a vertex's
width, each addition of a vertex's summed inputs and the output's concatenation of k parts. The
widths a vertex can have at a slot are few (the output width split 1..5 ways), so the table holds all
of them. Fixed parts: stem, the max-pools between stacks, and the pooled dense classifier.
The cells' Conv-BN-ReLU blocks follow the network's `batch_norm` (non-affine BN has no scale and
shift; a private BN per width is, in a standalone network, an ordinary affine BN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from samplenas.hardware.blocks.base import Add, Block, BlockSpec, Concat, unique
from samplenas.spaces import SPACES
from samplenas.spaces.base import Arch
from samplenas.spaces.nasbench101 import CONV1X1, CONV3X3, MAXPOOL3X3, NUM_VERTICES
from samplenas.supernet.nasbench101 import (
    BN_EPSILON,
    BN_MOMENTUM,
    KERNEL,
    PROJECTION,
    CellSlot,
    macro_layout,
    plan_cells,
    vertex_pool,
    vertex_width_choices,
)
from samplenas.supernet.ops import conv_bn_relu

MAX_FEEDERS = NUM_VERTICES - 2  # interior vertices that can feed the output


class Downsample(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, 2, 2, ceil_mode=True)


class PooledDense(nn.Module):
    def __init__(self, in_features: int, classes: int):
        super().__init__()
        self.dense = nn.Linear(in_features, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x.mean(dim=(2, 3)))


def split(channels: int, parts: int) -> list[int]:
    """The output's channels among `parts` feeders, as the official builder splits them."""
    share, remainder = divmod(channels, parts)
    return [share + (1 if i < remainder else 0) for i in range(parts)]


class NASBench101Blocks(BlockSpec):
    space_name = "nb101"

    def __init__(self, settings: dict):
        if settings.get("vertex_widths", "official") != "official":
            raise ValueError("latency blocks model the official vertex widths only (vertex_widths \"official\")")
        self.settings = dict(settings)
        self.space = SPACES["nb101"]()
        self.slots = tuple(macro_layout(settings["stem_channels"], settings["num_stacks"], settings["cells_per_stack"]))
        size, self.sizes = settings["image_size"], []
        for slot in self.slots:
            if slot.downsample:
                size = (size + 1) // 2
            self.sizes.append(size)

    def _shape(self, channels: int, slot: CellSlot) -> tuple[int, int, int]:
        return (channels, self.sizes[slot.index], self.sizes[slot.index])

    def table_blocks(self) -> list[Block]:
        blocks = []
        for slot in self.slots:
            for width in vertex_width_choices(slot.out_channels):
                blocks += [Block("projection", f"to{width}", self._shape(slot.in_channels, slot)),
                           Block("vertex", CONV3X3, self._shape(width, slot)),
                           Block("vertex", CONV1X1, self._shape(width, slot)),
                           Block("vertex", MAXPOOL3X3, self._shape(width, slot)),
                           Block("sum", "add", self._shape(width, slot))]
            blocks += [Block("output", f"concat{parts}", self._shape(slot.out_channels, slot))
                       for parts in range(1, MAX_FEEDERS + 1)]
        return unique(blocks)

    def arch_blocks(self, arch: Arch) -> list[Block]:
        blocks = []
        plans = plan_cells(self.space, tuple(arch), self.slots, input_output_edge=self.settings["input_output_edge"])
        for slot, plan in zip(self.slots, plans):
            n, matrix, channels = plan.size, plan.matrix, plan.channels
            project = [Block("projection", f"to{channels[v]}", self._shape(channels[0], slot))
                       for v in range(1, n) if matrix[0, v]]
            blocks += project
            for t in range(1, n - 1):
                summands = int(matrix[:t, t].sum())
                blocks += [Block("sum", "add", self._shape(channels[t], slot))] * (summands - 1)
                blocks.append(Block("vertex", plan.ops[t], self._shape(channels[t], slot)))
            feeders = int(matrix[1 : n - 1, n - 1].sum())
            if feeders:
                blocks.append(Block("output", f"concat{feeders}", self._shape(slot.out_channels, slot)))
                if matrix[0, n - 1]:
                    blocks.append(Block("sum", "add", self._shape(slot.out_channels, slot)))
        return blocks

    def fixed_parts(self) -> list[Block]:
        s = self.settings
        parts = [Block("stem", "stem", (s["in_channels"], s["image_size"], s["image_size"]))]
        previous = s["image_size"]
        for slot, size in zip(self.slots, self.sizes):
            if slot.downsample:
                parts.append(Block(f"cell{slot.index}", "maxpool2x2", (slot.in_channels, previous, previous)))
            previous = size
        last = self.slots[-1]
        return parts + [Block("head", "pool+dense", self._shape(last.out_channels, last))]

    def make(self, block: Block):
        channels = block.input_shape[0]
        if block.slot == "stem":
            stem = conv_bn_relu(channels, self.settings["stem_channels"], 3, BN_EPSILON, BN_MOMENTUM)
            return stem, [block.input_shape]
        if block.slot == "head":
            return PooledDense(channels, self.settings["num_classes"]), [block.input_shape]
        if block.choice == "maxpool2x2":
            return Downsample(), [block.input_shape]
        if block.slot == "projection":
            width = int(block.choice.removeprefix("to"))
            return self._conv_bn_relu(channels, width, KERNEL[PROJECTION]), [block.input_shape]
        if block.slot == "sum":
            return Add(), [block.input_shape] * 2
        if block.slot == "output":
            _, h, w = block.input_shape
            return Concat(), [(part, h, w) for part in split(channels, int(block.choice.removeprefix("concat")))]
        if block.choice == MAXPOOL3X3:
            return vertex_pool(), [block.input_shape]
        return self._conv_bn_relu(channels, channels, KERNEL[block.choice]), [block.input_shape]

    def _conv_bn_relu(self, in_channels: int, out_channels: int, kernel: int) -> nn.Module:
        """A cell's Conv-BN-ReLU as the network's `batch_norm` makes it."""
        affine = self.settings.get("batch_norm", "affine") != "non-affine"
        return conv_bn_relu(in_channels, out_channels, kernel, BN_EPSILON, BN_MOMENTUM, affine)
