"""The NAS-Bench-101 weight-sharing supernet (VAENAS appendix A.5) and its standalone networks.

Macro network as `nasbench/lib/model_builder.py` builds it: stem Conv3x3-BN-ReLU, `num_stacks`
stacks of `cells_per_stack` cells, a 2x2 max-pool (stride 2) and channel doubling before every
stack but the first, global average pool, dense layer. Inside a cell the official rules hold:
the output's channels are split among the vertices feeding it (remainder to the first ones),
other vertices take the max of their successors, the cell input reaches a vertex through a 1x1
Conv-BN-ReLU projection, interior inputs are truncated to the vertex's channels and summed, and
the output concatenates its inputs (plus the projected cell input when input->output exists).

Weight sharing (A.5): every cell position holds, for each encoded vertex 1..5, one conv3x3 and
one conv1x1 Conv-BN-ReLU at the largest width any cell needs there (the cell's output channels),
and for each vertex 1..6 one input projection; a sampled cell runs the channel slices it needs.
Weights belong to the *encoded* vertex index, so the same ops of the same encoding always meet
the same weights.

Vertex widths (`vertex_widths`): "official" follows the rules above, so a vertex's width depends on
how many vertices feed the output and shared weights are trained at many widths. "fixed" gives every
interior vertex the cell's full output width and sums (instead of concatenating) what feeds the
output, so no width depends on the topology (the fixed channel counts NAS-Bench-1Shot1 and Yu et al.,
ICLR 2021, use for one-shot models on this space); the networks it builds are then that variant, and
the table still judges the official cells it ranks.

Batch norm (`batch_norm`): with "affine" (the default) each shared op has its own sliced BN
(`SlicedBatchNorm2d`), whose statistics and scale/shift mix every width trained through it.
"non-affine" drops the learnable scale and shift of the cells' BNs (as the DARTS and SPOS search
networks do), so no affine parameters are trained for one width and used at another; the stem keeps
its. "private-width" gives each shared op one private BN per width it can run at
(`PerWidthBatchNorm2d`: the switchable BN of slimmable networks, Yu et al., ICLR 2019), so
statistics and affine parameters are never shared between widths. `extract` and `build` follow the
setting, so they stay the same network. Before evaluating a sampled architecture, re-estimate them with
`samplenas.supernet.bn.recalibrate_bn(supernet, arch, batches)` (as SPOS does); `extract` copies
whatever statistics the supernet holds at that moment.

Input-output edge (`input_output_edge`): "encoded" (the default) runs the cell's own edge input->output.
"always" adds it to every cell, so every cell is a residual block whose output adds the projected input.
Without it, a supernet trained on a CPU budget ranks cells mostly by whether they have that edge (a
shortcut around the interior weights that every cell shares and none trains well), which the table does
not reward; with it on everywhere the edge no longer separates the cells and what is left to rank is
their interior. `extract` and `build` give that variant (the supernet's own paths); it is a search aid,
so `deployed_network`, costs, zero-cost proxies, latency budgets and retraining take the official cell,
the one the table judges.

Uniform draws (`uniform_draws`): what the supernet's space draws when a sampler asks for a uniform cell
(uniform, fair, the mixture's uniform part, a search's first population). "encodings" (the default) is
uniform over valid encodings, which after pruning are mostly cells of 2 to 5 vertices; "distinct-cells"
draws every pruned cell about equally often, as the table's cells are (85 % of them have 7 vertices), so the
shared weights train on the kind of cells the supernet is asked to rank (NASBench101Space). On the CPU proxy
that ranked the table's cells worse after 2.5 epochs and better after 10, but no better among the best cells,
and picked no better end to end (docs/results/nb101-remedies.md), so encodings stay the default.

Weight copies (`weight_copies`): with K > 1 every shared conv keeps K copies and each architecture runs a
convex combination of them, one code per shared layer from a simplex-net fed the architecture's encoding
(K-shot NAS, Su et al., ICML 2021; `samplenas.supernet.kshot`). The networks are the same; `extract` copies
the architecture's combination.

One network definition: `NB101Network` is built by `extract` from slices of the shared weights
and by `build` from fresh layers, and `run_cell` / `run_macro` are the only code that wires a
cell and the macro network, for the supernet and the standalone network alike.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samplenas.errors import UserError
from samplenas.spaces import SPACES
from samplenas.spaces.base import Arch, SearchSpace
from samplenas.spaces.nasbench101 import (
    CONV1X1,
    CONV3X3,
    EDGES,
    MAXPOOL3X3,
    NUM_EDGE_BITS,
    NUM_VERTICES,
    UNIFORM_DRAWS,
    ModelSpec,
)
from samplenas.supernet.base import Supernet
from samplenas.supernet.kshot import SimplexNet
from samplenas.supernet.ops import SlicedConv2d, SlicedConvBnRelu, conv_bn_relu

# nasbench/lib/base_ops.py: BN_MOMENTUM = 0.997 (TF keeps 0.997 of the old average; PyTorch's
# momentum is the weight of the new batch) and BN_EPSILON = 1e-5.
BN_MOMENTUM = 1.0 - 0.997
BN_EPSILON = 1e-5
PROJECTION = "projection"
KERNEL = {CONV3X3: 3, CONV1X1: 1, PROJECTION: 1}
EDGE_POSITION = {edge: position for position, edge in enumerate(EDGES)}


def compute_vertex_channels(input_channels: int, output_channels: int, matrix: np.ndarray) -> list[int]:
    """Channels of every vertex of a pruned cell, by the rules of the official builder.

    The output's channels are divided among the interior vertices feeding it, the first
    `remainder` of them getting one more; every other interior vertex takes the max over the
    interior vertices it feeds.
    """
    n = matrix.shape[0]
    channels = [0] * n
    channels[0], channels[n - 1] = input_channels, output_channels
    if n == 2:
        return channels
    feeders = int(np.sum(matrix[1:, n - 1]))  # the input's edge to the output does not split
    share, remainder = divmod(output_channels, feeders)
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            channels[v] = share + (1 if remainder > 0 else 0)
            remainder -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            channels[v] = max(channels[dst] for dst in range(v + 1, n - 1) if matrix[v, dst])
    return channels


VERTEX_WIDTHS = ("official", "fixed")
WEIGHT_KEYS = ("vertex", "depth")
INPUT_OUTPUT_EDGES = ("encoded", "always")
BATCH_NORMS = ("affine", "non-affine", "private-width")


def fixed_vertex_channels(input_channels: int, output_channels: int, size: int) -> list[int]:
    """Channels of every vertex when widths do not depend on the topology: the output's width throughout."""
    return [input_channels] + [output_channels] * (size - 1)


def vertex_width_choices(output_channels: int, vertex_widths: str = "official") -> list[int]:
    """Every width a vertex or projection can have in a cell of `output_channels`: the output width
    split among 1..5 feeders (a vertex that does not feed the output takes one of its successors')."""
    if vertex_widths == "fixed":
        return [output_channels]
    widths = set()
    for parts in range(1, NUM_VERTICES - 1):
        share, remainder = divmod(output_channels, parts)
        widths.update([share, share + 1] if remainder else [share])
    return sorted(widths)


@dataclass(frozen=True)
class CellSlot:
    """One cell position of the macro network."""

    index: int
    in_channels: int
    out_channels: int
    downsample: bool  # 2x2 max-pool before this cell (first cell of every stack but the first)


def macro_layout(stem_channels: int, num_stacks: int, cells_per_stack: int) -> list[CellSlot]:
    """The official stacking: channels double (and a 2x2 max-pool halves the size) at every new stack."""
    slots, channels = [], stem_channels
    for stack in range(num_stacks):
        in_channels = channels
        if stack > 0:
            channels *= 2
        for cell in range(cells_per_stack):
            first = cell == 0
            slots.append(CellSlot(len(slots), in_channels if first else channels, channels, first and stack > 0))
    return slots


@dataclass(frozen=True)
class CellPlan:
    """A pruned cell at one slot: its graph, ops, vertex channels and encoding positions."""

    matrix: np.ndarray
    ops: tuple[str, ...]
    channels: tuple[int, ...]
    vertex_ids: tuple[int, ...]  # encoded (7-vertex) index of every pruned vertex
    merge: str = "concat"  # how the output joins its interior inputs: "concat" (official) or "sum"
    weight_ids: tuple[int, ...] = ()  # which shared weights each pruned vertex runs (default: vertex_ids)
    added_edge: bool = False  # input->output added by the input_output_edge setting, not encoded: no gate

    def weight_id(self, vertex: int) -> int:
        return (self.weight_ids or self.vertex_ids)[vertex]

    @property
    def size(self) -> int:
        return len(self.ops)

    def edge_position(self, src: int, dst: int) -> int:
        """Encoding position of the pruned edge src->dst."""
        return EDGE_POSITION[(self.vertex_ids[src], self.vertex_ids[dst])]

    def op_position(self, vertex: int) -> int:
        """Encoding position of the op of pruned interior vertex `vertex`."""
        return NUM_EDGE_BITS + self.vertex_ids[vertex] - 1


def encoded_vertex_ids(spec: ModelSpec) -> tuple[int, ...]:
    """Which encoded vertices survive pruning: label every vertex by its index and let the
    official pruning (ModelSpec) drop the dangling ones."""
    labels = [str(v) for v in range(len(spec.original_ops))]
    return tuple(int(v) for v in ModelSpec(spec.original_matrix, labels).ops)


def depth_weight_ids(matrix: np.ndarray) -> tuple[int, ...]:
    """Each interior vertex keyed by its depth (the longest path from the input, 1..5), the input 0 and the
    output 6: vertices at the same depth of different cells share weights."""
    n = matrix.shape[0]
    depth = [0] * n
    for v in range(1, n - 1):
        depth[v] = max(depth[u] + 1 for u in range(v) if matrix[u, v])
    return (0, *depth[1 : n - 1], NUM_VERTICES - 1)


@functools.lru_cache(maxsize=4096)
def plan_cells(
    space: SearchSpace, arch: Arch, slots: tuple[CellSlot, ...], vertex_widths: str = "official",
    weight_key: str = "vertex", input_output_edge: str = "encoded",
) -> tuple[CellPlan, ...]:
    """One plan per slot for a validated `arch` (cached: a training loop revisits architectures)."""
    spec = space.decode(arch)
    ids = encoded_vertex_ids(spec)
    fixed = vertex_widths == "fixed"
    weight_ids = depth_weight_ids(np.asarray(spec.matrix)) if weight_key == "depth" else ()
    matrix = np.array(spec.matrix)
    added = input_output_edge == "always" and not matrix[0, -1]
    matrix[0, -1] |= added  # every cell a residual block: the projected input joins the output

    def channels(slot: CellSlot) -> list[int]:
        if fixed:
            return fixed_vertex_channels(slot.in_channels, slot.out_channels, len(spec.ops))
        return compute_vertex_channels(slot.in_channels, slot.out_channels, spec.matrix)

    return tuple(
        CellPlan(matrix, tuple(spec.ops), tuple(channels(slot)), ids, "sum" if fixed else "concat", weight_ids, added)
        for slot in slots
    )


Gate = Callable[[int, torch.Tensor], torch.Tensor]  # (encoding position, tensor) -> tensor
Layer = Callable[[int, torch.Tensor], torch.Tensor]  # (pruned vertex, tensor) -> tensor


def _ungated(position: int, tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def run_cell(plan: CellPlan, x: torch.Tensor, project: Layer, apply_op: Layer, gate: Gate = _ungated):
    """One cell, wired as the official `build_module`: `project(v, x)` is the 1x1 projection of
    the cell input for vertex v (v = last for the output), `apply_op(v, x)` vertex v's op."""
    n, matrix, channels = plan.size, plan.matrix, plan.channels
    tensors, concat = [x], []
    for t in range(1, n - 1):
        summands = [
            gate(plan.edge_position(src, t), tensors[src][:, : channels[t]]) for src in range(1, t) if matrix[src, t]
        ]
        if matrix[0, t]:
            summands.append(gate(plan.edge_position(0, t), project(t, x)))
        tensors.append(gate(plan.op_position(t), apply_op(t, sum(summands[1:], summands[0]))))
        if matrix[t, n - 1]:
            concat.append(gate(plan.edge_position(t, n - 1), tensors[t]))
    if not concat:
        output = None
    elif plan.merge == "sum":
        output = sum(concat[1:], concat[0])
    else:
        output = torch.cat(concat, dim=1)
    if matrix[0, n - 1]:
        projected = project(n - 1, x)
        if not plan.added_edge:  # an edge the encoding does not hold is no decision: its gate learns nothing
            projected = gate(plan.edge_position(0, n - 1), projected)
        output = projected if output is None else output + projected
    return output


def run_macro(x: torch.Tensor, stem: nn.Module, slots: Sequence[CellSlot], cell, classifier: nn.Module):
    """Stem, cells (`cell(slot, x)`) with 2x2 max-pool downsampling, global average pool, dense."""
    x = stem(x)
    for slot in slots:
        if slot.downsample:  # TF "same" 2x2/2 pooling pads at the end, as ceil_mode does
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        x = cell(slot, x)
    return classifier(x.mean(dim=(2, 3)))


def init_like_official(module: nn.Module) -> nn.Module:
    """TF defaults of the official model: convs variance-scaling (fan-in, truncated normal),
    dense Glorot-uniform with zero bias, BN gamma 1 / beta 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, SlicedConv2d)):
            fan_in = m.weight[0].numel()
            std = math.sqrt(1.0 / fan_in) / 0.87962566103423978  # TF's truncation correction
            nn.init.trunc_normal_(m.weight, 0.0, std, -2 * std, 2 * std)
            for other in getattr(m, "other_weights", ()):
                nn.init.trunc_normal_(other, 0.0, std, -2 * std, 2 * std)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def vertex_pool() -> nn.MaxPool2d:
    """The maxpool3x3 vertex op: stride 1, "same" padding, channels unchanged."""
    return nn.MaxPool2d(3, stride=1, padding=1)


class NB101Cell(nn.Module):
    """A standalone cell; `make(role, vertex_id, in_channels, out_channels)` supplies its
    Conv-BN-ReLU layers (role: a conv op or PROJECTION)."""

    def __init__(self, plan: CellPlan, make: Callable[[str, int, int, int], nn.Module]):
        super().__init__()
        self.plan = plan
        n, channels = plan.size, plan.channels
        self.projections = nn.ModuleDict(
            {
                str(v): make(PROJECTION, plan.weight_id(v), channels[0], channels[v])
                for v in range(1, n)
                if plan.matrix[0, v]
            }
        )
        self.ops = nn.ModuleDict(
            {
                str(v): vertex_pool()
                if plan.ops[v] == MAXPOOL3X3
                else make(plan.ops[v], plan.weight_id(v), channels[v], channels[v])
                for v in range(1, n - 1)
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_cell(self.plan, x, lambda v, t: self.projections[str(v)](t), lambda v, t: self.ops[str(v)](t))


class NB101Network(nn.Module):
    """The official NAS-Bench-101 network of one cell (the same cell in every slot)."""

    def __init__(self, slots, plans, make_layer, stem: nn.Module, classifier: nn.Module):
        super().__init__()
        self.slots = list(slots)
        self.stem = stem
        self.cells = nn.ModuleList(
            NB101Cell(plan, lambda role, vid, cin, cout, i=slot.index: make_layer(i, role, vid, cin, cout))
            for slot, plan in zip(self.slots, plans)
        )
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_macro(x, self.stem, self.slots, lambda slot, t: self.cells[slot.index](t), self.classifier)


class SharedCell(nn.Module):
    """The shared weights of one cell slot (A.5): per encoded vertex 1..5 a conv3x3 and a conv1x1
    at the cell's full width, per vertex 1..6 (6 = output) a projection of the cell input."""

    LAYERS = 3 * NUM_VERTICES - 5  # 6 projections, 5 conv3x3, 5 conv1x1: the order of `layer_index`

    def __init__(self, slot: CellSlot, num_vertices: int = NUM_VERTICES, batch_norm: str = "affine",
                 vertex_widths: str = "official", weight_copies: int = 1):
        super().__init__()
        c_in, c_out = slot.in_channels, slot.out_channels
        widths = vertex_width_choices(c_out, vertex_widths) if batch_norm == "private-width" else None

        def block(cin: int, k: int) -> SlicedConvBnRelu:
            return SlicedConvBnRelu(cin, c_out, k, bn_eps=BN_EPSILON, bn_momentum=BN_MOMENTUM,
                                    bn_affine=batch_norm != "non-affine", bn_widths=widths, copies=weight_copies)

        self.projections = nn.ModuleList(block(c_in, 1) for _ in range(1, num_vertices))
        self.conv3x3 = nn.ModuleList(block(c_out, 3) for _ in range(1, num_vertices - 1))
        self.conv1x1 = nn.ModuleList(block(c_out, 1) for _ in range(1, num_vertices - 1))

    def layer(self, role: str, vertex_id: int) -> SlicedConvBnRelu:
        table = {PROJECTION: self.projections, CONV3X3: self.conv3x3, CONV1X1: self.conv1x1}[role]
        return table[vertex_id - 1]

    @staticmethod
    def layer_index(role: str, vertex_id: int) -> int:
        """The layer's row among the slot's `LAYERS` simplex codes."""
        offset = {PROJECTION: 0, CONV3X3: NUM_VERTICES - 1, CONV1X1: 2 * NUM_VERTICES - 3}[role]
        return offset + vertex_id - 1


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"nb101 supernet: {name} must be a positive integer, got {value!r}")
    return value


def _one_of(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UserError(f"nb101 supernet: {name} must be one of {', '.join(choices)}, got {value!r}")
    return value


class NASBench101Supernet(Supernet):
    """Weight-sharing supernet over NAS-Bench-101 cells (flat encoding of `SPACES["nb101"]`).

    gates (26 values, one per encoding position; applied straight-through, value 1 forward):
      * edge position (i, j) multiplies the tensor that edge carries: the truncated output of i
        (or the projected cell input when i = 0) added into j, or vertex i's share of the output
        concatenation (the projected input added to the output when i = 0, j = 6);
      * op position of vertex v multiplies vertex v's op output (conv or max-pool).
    Positions without a tensor in the chosen path (absent edges, pruned vertices) get no gradient.
    Gates apply in every cell of the network.
    """

    SEARCH_AIDS = {"input_output_edge": "encoded", "uniform_draws": "encodings"}

    def __init__(
        self,
        stem_channels: int = 128,
        num_stacks: int = 3,
        cells_per_stack: int = 3,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        vertex_widths: str = "official",
        batch_norm: str = "affine",
        weight_key: str = "vertex",
        input_output_edge: str = "encoded",
        uniform_draws: str = "encodings",
        weight_copies: int = 1,
    ):
        super().__init__()
        settings = dict(
            stem_channels=stem_channels,
            num_stacks=num_stacks,
            cells_per_stack=cells_per_stack,
            num_classes=num_classes,
            in_channels=in_channels,
            image_size=image_size,
            weight_copies=weight_copies,
        )
        for name, value in settings.items():
            _positive_int(name, value)
        for name, value, choices in (("vertex_widths", vertex_widths, VERTEX_WIDTHS),
                                     ("batch_norm", batch_norm, BATCH_NORMS),
                                     ("weight_key", weight_key, WEIGHT_KEYS),
                                     ("input_output_edge", input_output_edge, INPUT_OUTPUT_EDGES),
                                     ("uniform_draws", uniform_draws, UNIFORM_DRAWS)):
            settings[name] = _one_of(name, value, choices)
        if stem_channels < NUM_VERTICES - 2:  # the output's width is split among up to 5 vertices
            raise UserError(f"nb101 supernet: stem_channels must be at least {NUM_VERTICES - 2}, got {stem_channels}")
        self.settings = settings
        self.space = SPACES["nb101"](uniform_draws=uniform_draws)
        self.input_shape = (in_channels, image_size, image_size)
        self.slots = tuple(macro_layout(stem_channels, num_stacks, cells_per_stack))
        self.stem = self._fresh_stem()
        self.cells = nn.ModuleList(
            SharedCell(slot, batch_norm=batch_norm, vertex_widths=vertex_widths, weight_copies=weight_copies)
            for slot in self.slots
        )
        self.classifier = self._fresh_classifier()
        self.vertex_pool = vertex_pool()
        init_like_official(self)
        if weight_copies > 1:  # after the official init, which would overwrite its zeroed last layer
            self.simplex = SimplexNet(self.space.dims, len(self.slots) * SharedCell.LAYERS, weight_copies)

    # --- pieces shared by the supernet and the standalone networks -------------------------
    def _fresh_stem(self) -> nn.Module:
        s = self.settings
        return conv_bn_relu(s["in_channels"], s["stem_channels"], 3, BN_EPSILON, BN_MOMENTUM)

    def _fresh_classifier(self) -> nn.Module:
        return nn.Linear(self.slots[-1].out_channels, self.settings["num_classes"])

    def plans(self, arch: Arch, input_output_edge: str | None = None) -> tuple[CellPlan, ...]:
        """Validate and decode `arch` (InvalidArchitecture if it is not in the space), one plan per slot
        (`input_output_edge`: instead of the supernet's setting)."""
        return plan_cells(self.space, self.space.validate(arch), self.slots, self.settings["vertex_widths"],
                          self.settings["weight_key"], input_output_edge or self.settings["input_output_edge"])

    # --- the contract ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, arch: Arch, gates: torch.Tensor | None = None) -> torch.Tensor:
        plans = self.plans(arch)
        gate = _ungated if gates is None else self._straight_through(gates)
        code = self._codes(arch)

        def cell(slot: CellSlot, t: torch.Tensor) -> torch.Tensor:
            plan, shared = plans[slot.index], self.cells[slot.index]

            def shared_op(role: str, v: int, inp: torch.Tensor) -> torch.Tensor:
                vertex_id = plan.weight_id(v)
                return shared.layer(role, vertex_id)(inp, plan.channels[v], code=code(slot.index, role, vertex_id))

            def project(v: int, inp: torch.Tensor) -> torch.Tensor:
                return shared_op(PROJECTION, v, inp)

            def apply_op(v: int, inp: torch.Tensor) -> torch.Tensor:
                return self.vertex_pool(inp) if plan.ops[v] == MAXPOOL3X3 else shared_op(plan.ops[v], v, inp)

            return run_cell(plan, t, project, apply_op, gate)

        return run_macro(x, self.stem, self.slots, cell, self.classifier)

    def simplex_codes(self, arch: Arch) -> torch.Tensor:
        """The codes `arch` runs on, (slots, layers, copies); every row is uniform without weight copies."""
        if self.settings["weight_copies"] == 1:
            return torch.ones(len(self.slots), SharedCell.LAYERS, 1)
        return self._code_table(self.space.validate(arch))

    def _code_table(self, arch: Arch) -> torch.Tensor:
        """The simplex-net's codes of a validated `arch`, one row per (slot, shared layer)."""
        return self.simplex(arch).view(len(self.slots), SharedCell.LAYERS, self.settings["weight_copies"])

    def _codes(self, arch: Arch) -> Callable[[int, str, int], torch.Tensor | None]:
        """(slot, role, vertex id) -> the layer's simplex code for `arch` (validated by `plans` already); None
        without weight copies."""
        if self.settings["weight_copies"] == 1:
            return lambda slot, role, vertex_id: None
        codes = self._code_table(arch)
        return lambda slot, role, vertex_id: codes[slot, SharedCell.layer_index(role, vertex_id)]

    def _straight_through(self, gates: torch.Tensor) -> Gate:
        if gates.shape != (len(self.space.dims),):
            raise ValueError(f"gates must have shape ({len(self.space.dims)},), got {tuple(gates.shape)}")
        ones = gates - gates.detach() + 1.0  # value exactly 1, gradient d/d(gate)

        def gate(position: int, tensor: torch.Tensor) -> torch.Tensor:
            return tensor * ones[position]

        return gate

    def extract(self, arch: Arch) -> NB101Network:
        plans = self.plans(arch)
        code = self._codes(arch)

        def shared_layer(index: int, role: str, vertex_id: int, c_in: int, c_out: int) -> nn.Module:
            return self.cells[index].layer(role, vertex_id).export(c_in, c_out, code=code(index, role, vertex_id))

        return NB101Network(self.slots, plans, shared_layer, copy.deepcopy(self.stem), copy.deepcopy(self.classifier))

    def build(self, arch: Arch) -> NB101Network:
        return self._fresh_network(self.plans(arch))

    def deployed_network(self, arch: Arch) -> NB101Network:
        """The cell the table judges: without an input->output edge the setting added for training."""
        return self._fresh_network(self.plans(arch, self.SEARCH_AIDS["input_output_edge"]))

    def _fresh_network(self, plans: tuple[CellPlan, ...]) -> NB101Network:
        def fresh_layer(index: int, role: str, vertex_id: int, c_in: int, c_out: int) -> nn.Module:
            return conv_bn_relu(c_in, c_out, KERNEL[role], BN_EPSILON, BN_MOMENTUM, affine)

        affine = self.settings["batch_norm"] != "non-affine"

        network = NB101Network(self.slots, plans, fresh_layer, self._fresh_stem(), self._fresh_classifier())
        return init_like_official(network)
