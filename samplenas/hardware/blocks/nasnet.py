"""NASNet/DARTS cell blocks: one edge op per (stride, op, input shape), plus the node sums.

An edge's cost depends on its op, its stride (2 on the input edges of a reduction cell) and the
tensor it receives; normal cells of a stage receive the same shapes, so their edges share entries.
A node with k incoming edges adds k - 1 tensors, each a `node-sum` block. Fixed parts: the stem, each
cell's two input preprocessings and its output concatenation, and the pooled classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from samplenas.hardware.blocks.base import Add, Block, BlockSpec, Concat, unique
from samplenas.spaces.base import Arch
from samplenas.spaces.nasnet import EDGES, EDGES_PER_CELL, INPUT_NODES, NODES, NONE, NASNetSpace, node_positions
from samplenas.supernet.darts_ops import OPS
from samplenas.supernet.nasnet import STEM_MULTIPLIER, DiscreteNetwork

INFERENCE_ONLY = ("auxiliary", "affine")  # settings that change training, not the inference network


class HeadPool(nn.Module):
    """Global average pooling and the classifier, as `DartsNetwork.forward` ends."""

    def __init__(self, network: DiscreteNetwork):
        super().__init__()
        self.pool, self.classifier = network.global_pooling, network.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(x).flatten(1))


class NASNetBlocks(BlockSpec):
    space_name = "nasnet"

    def __init__(self, settings: dict):
        self.settings = {k: v for k, v in settings.items() if k not in INFERENCE_ONLY}
        self.space = NASNetSpace(self.settings["ops"])
        self.names = self.space.op_names
        C, size = self.settings["C"], self.settings["image_size"]
        layers = self.settings["layers"]
        self.cells = []  # per cell: (reduction, channels, size in, size out, s0 shape, s1 shape)
        states = [(STEM_MULTIPLIER * C, size)] * 2
        c_curr = C
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            size_in = size
            if reduction:
                c_curr *= 2
                size = (size + 1) // 2
            self.cells.append((reduction, c_curr, size_in, size, states[-2], states[-1]))
            states.append((len(NODES) * c_curr, size))
        self.head_shape = (states[-1][0], states[-1][1], states[-1][1])

    def _cell_blocks(self, cell, ops) -> list[Block]:
        reduction, c, size_in, size_out, _, _ = cell
        blocks = []
        for node in NODES:
            chosen = [p for p in node_positions(node) if ops[p] != NONE]
            for position in chosen:
                strided = reduction and EDGES[position][0] < INPUT_NODES
                h = size_in if strided else size_out
                blocks.append(Block(f"edge-stride{2 if strided else 1}", self.names[ops[position]], (c, h, h)))
            blocks += [Block("node-sum", "add", (c, size_out, size_out))] * (len(chosen) - 1)
        return blocks

    def table_blocks(self) -> list[Block]:
        every_op = range(1, len(self.names))
        blocks = []
        for cell in self.cells:
            for op in every_op:  # each op on every edge, and every node with all its edges
                blocks += self._cell_blocks(cell, [op] * EDGES_PER_CELL)
        return unique(blocks)

    def arch_blocks(self, arch: Arch) -> list[Block]:
        blocks = []
        for cell in self.cells:
            blocks += self._cell_blocks(cell, arch[EDGES_PER_CELL:] if cell[0] else arch[:EDGES_PER_CELL])
        return blocks

    def fixed_parts(self) -> list[Block]:
        s = self.settings
        parts = [Block("stem", "stem", (s["in_channels"], s["image_size"], s["image_size"]))]
        for i, (_, c, _, size_out, s0, s1) in enumerate(self.cells):
            parts += [
                Block(f"cell{i}", "preprocess0", (s0[0], s0[1], s0[1])),
                Block(f"cell{i}", "preprocess1", (s1[0], s1[1], s1[1])),
                Block(f"cell{i}", f"concat{len(NODES)}", (c, size_out, size_out)),
            ]
        return parts + [Block("head", "pool+linear", self.head_shape)]

    def _network(self) -> DiscreteNetwork:
        return DiscreteNetwork((1,) * 2 * EDGES_PER_CELL, affine=True, auxiliary=False, **self.settings)

    def make(self, block: Block):
        if block.slot.startswith("edge-stride"):
            stride = int(block.slot.removeprefix("edge-stride"))
            return OPS[block.choice](block.input_shape[0], stride, True), [block.input_shape]
        if block.slot == "node-sum":
            return Add(), [block.input_shape] * 2
        if block.choice.startswith("concat"):
            return Concat(), [block.input_shape] * len(NODES)
        network = self._network()
        if block.slot == "stem":
            return network.stem, [block.input_shape]
        if block.slot == "head":
            return HeadPool(network), [block.input_shape]
        cell = network.cells[int(block.slot.removeprefix("cell"))]
        return getattr(cell, block.choice), [block.input_shape]
