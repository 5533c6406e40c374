"""Weight-sharing supernet for the NASNet/DARTS-like space: the DARTS CIFAR network with all ops.

One network definition (`DartsNetwork`) serves all three uses. Each edge of each cell holds a
`ModuleDict` of candidate ops: the supernet builds every op on every edge (one module per
(cell, edge, op)) and runs only the chosen one; `DiscreteNetwork` is the same class built with only
the chosen op per edge, so it shares parameter names with the supernet -- `extract` copies the
matching tensors into it, `build` leaves it freshly initialised.

The macro structure is the DARTS evaluation network (Liu et al. 2019, `quark0/darts` cnn/model.py):
a 3x3 conv + BN stem with 3*C channels, `layers` cells with reduction cells (stride 2, channels
doubled) at layers//3 and 2*layers//3, input preprocessing by FactorizedReduce after a reduction cell
and ReLU-1x1conv-BN otherwise, each intermediate node summing its non-'none' edges, the cell output
concatenating the four intermediate nodes, global average pooling and a linear classifier, plus the
optional auxiliary head after cell 2*layers//3.

Batch norm: the supernet's cell BNs are non-affine by default (`affine=False`, as in the DARTS
search network), so no shared per-channel scale absorbs what the sampler's gates should learn, and
one affine BN does not have to serve every path. `extract` keeps the supernet's setting, since it must
compute the supernet's function; `build` is the DARTS evaluation network (affine BN everywhere),
which is what one retrains and what published parameter counts describe.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from samplenas.errors import UserError
from samplenas.spaces.base import Arch
from samplenas.spaces.nasnet import (
    DEFAULT_OPS,
    EDGES,
    EDGES_PER_CELL,
    INPUT_NODES,
    NODES,
    NONE,
    NASNetSpace,
    node_positions,
    op_names,
)
from samplenas.supernet.base import Supernet
from samplenas.supernet.darts_ops import OPS, AuxiliaryHead, FactorizedReduce, ReLUConvBN, drop_path

STEM_MULTIPLIER = 3


class Cell(nn.Module):
    """One DARTS cell whose edge `e` holds the ops listed in `candidates[e]` (choice indices into `names`)."""

    def __init__(
        self,
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        candidates: Sequence[Sequence[int]],
        affine: bool,
        names: Sequence[str],
    ):
        super().__init__()
        self.names = tuple(names)
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c, affine)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0, affine)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0, affine)
        self.edges = nn.ModuleList()
        for (src, _dst), ops in zip(EDGES, candidates):
            stride = 2 if reduction and src < INPUT_NODES else 1
            self.edges.append(
                nn.ModuleDict({names[op]: OPS[names[op]](c, stride, affine) for op in ops if op != NONE})
            )

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        ops: Sequence[int],
        gates: torch.Tensor | None,
        drop_prob: float,
    ) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in NODES:
            total = None
            for position in node_positions(node):
                if ops[position] == NONE:
                    continue
                op = self.edges[position][self.names[ops[position]]]
                out = op(states[EDGES[position][0]])
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    out = drop_path(out, drop_prob)  # DARTS spares identity edges
                if gates is not None:
                    out = out * gates[position]
                total = out if total is None else total + out
            states.append(total)
        return torch.cat(states[INPUT_NODES:], dim=1)


class DartsNetwork(nn.Module):
    """The DARTS CIFAR network over cells whose edges hold `candidates` (normal, reduce), choice
    indices into the op set `ops` (a name of `samplenas.spaces.nasnet.OP_SETS`).

    `forward(x, arch, gates=None)` runs the ops `arch` picks (it must be valid and built here).
    With the auxiliary head, training-mode forward returns (logits, aux_logits) as DARTS does;
    otherwise logits. `drop_path_prob` (default 0) is read at every training forward, so a
    retraining loop can schedule it.
    """

    def __init__(
        self,
        C: int,
        layers: int,
        num_classes: int,
        in_channels: int,
        image_size: int,
        candidates: tuple[Sequence[Sequence[int]], Sequence[Sequence[int]]],
        affine: bool,
        auxiliary: bool,
        ops: str = DEFAULT_OPS,
    ):
        super().__init__()
        names = op_names(ops)
        self.drop_path_prob = 0.0
        c_curr = STEM_MULTIPLIER * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_curr),
        )
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
        size = image_size
        self.cells = nn.ModuleList()
        self.aux_after = 2 * layers // 3
        self.auxiliary_head: nn.Module | None = None
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
                size = (size + 1) // 2
            cell = Cell(c_prev_prev, c_prev, c_curr, reduction, reduction_prev, candidates[reduction], affine, names)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, len(NODES) * c_curr
            if auxiliary and i == self.aux_after:
                self.auxiliary_head = AuxiliaryHead(c_prev, num_classes, size)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor, arch: Arch, gates: torch.Tensor | None = None):
        s0 = s1 = self.stem(x)
        aux_logits = None
        for i, cell in enumerate(self.cells):
            cell_slice = slice(EDGES_PER_CELL, 2 * EDGES_PER_CELL) if cell.reduction else slice(0, EDGES_PER_CELL)
            cell_gates = None if gates is None else gates[cell_slice]
            s0, s1 = s1, cell(s0, s1, arch[cell_slice], cell_gates, self.drop_path_prob)
            if i == self.aux_after and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return logits if aux_logits is None else (logits, aux_logits)


def _chosen(arch: Arch) -> tuple[list[list[int]], list[list[int]]]:
    """Per-cell candidate lists holding only the op `arch` chose on each edge."""
    normal, reduce = arch[:EDGES_PER_CELL], arch[EDGES_PER_CELL:]
    return [[op] for op in normal], [[op] for op in reduce]


class DiscreteNetwork(DartsNetwork):
    """A single architecture of the space as a standalone network: `forward(x)`."""

    def __init__(self, arch: Arch, **settings):
        super().__init__(candidates=_chosen(arch), **settings)
        self.arch = tuple(arch)

    def forward(self, x: torch.Tensor):  # type: ignore[override]
        return super().forward(x, self.arch)


class NASNetSupernet(Supernet):
    """DARTS-style supernet over `NASNetSpace` (see the module docstring for the design).

    Settings: C (initial channels), layers (cells), num_classes, in_channels, image_size,
    auxiliary (DARTS auxiliary head in `build` networks), affine (affine BN in the supernet and
    in `extract`; `build` always uses affine BN), ops (the op set: "vaenas", the default, or "darts";
    see `samplenas.spaces.nasnet`).
    """

    def __init__(
        self,
        C: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        auxiliary: bool = False,
        affine: bool = False,
        ops: str = DEFAULT_OPS,
    ):
        super().__init__()
        for name, value in (("C", C), ("layers", layers), ("num_classes", num_classes)):
            if int(value) < 1:
                raise UserError(f"nasnet supernet: {name} must be at least 1, got {value}")
        for name, value in (("in_channels", in_channels), ("image_size", image_size)):
            if int(value) < 1:
                raise UserError(f"nasnet supernet: {name} must be at least 1, got {value}")
        self.space = NASNetSpace(ops)
        self.input_shape = (int(in_channels), int(image_size), int(image_size))
        self.settings = {
            "C": int(C),
            "layers": int(layers),
            "num_classes": int(num_classes),
            "in_channels": int(in_channels),
            "image_size": int(image_size),
            "ops": self.space.ops,
        }
        self.auxiliary = bool(auxiliary)
        self.affine = bool(affine)
        every_op = [list(range(1, len(self.space.op_names)))] * EDGES_PER_CELL  # 'none' has no module
        self.network = DartsNetwork(
            candidates=(every_op, every_op), affine=self.affine, auxiliary=False, **self.settings
        )

    def forward(self, x: torch.Tensor, arch: Arch, gates: torch.Tensor | None = None) -> torch.Tensor:
        arch = self.space.validate(arch)
        if gates is not None and tuple(gates.shape) != (len(arch),):
            raise ValueError(f"gates must have shape ({len(arch)},), got {tuple(gates.shape)}")
        return self.network(x, arch, gates)

    def extract(self, arch: Arch) -> DiscreteNetwork:
        net = DiscreteNetwork(self.space.validate(arch), affine=self.affine, auxiliary=False, **self.settings)
        net.to(next(self.parameters()).device)
        shared = self.network.state_dict()
        net.load_state_dict({name: shared[name] for name in net.state_dict()})
        return net.train(self.training)

    def build(self, arch: Arch) -> DiscreteNetwork:
        return DiscreteNetwork(self.space.validate(arch), affine=True, auxiliary=self.auxiliary, **self.settings)

    def deployed_network(self, arch: Arch) -> DiscreteNetwork:
        """The inference network: like DARTS, the auxiliary head (a training aid that is dropped
        afterwards) is not counted."""
        return DiscreteNetwork(self.space.validate(arch), affine=True, auxiliary=False, **self.settings)
