"""NASNet/DARTS-like cell space (VAENAS appendix A.4): a normal and a reduction cell, searched jointly.

A cell has two input nodes (0 = c_{k-2}, 1 = c_{k-1}) and four intermediate nodes 2..5. Every
possible edge i -> j (i < j, j intermediate) carries one of eight ops, 'none' meaning the edge is
absent, so a node may have anywhere from one to all of its predecessors as inputs (unlike DARTS,
which keeps exactly two). 2 + 3 + 4 + 5 = 14 edges per cell, 28 positions, 8^28 encodings.
Each intermediate node sums its incoming edges; the cell output concatenates nodes 2..5.

Op sets (the `ops` setting): "vaenas" (default) is the VAENAS A.4 vocabulary, DARTS's ops with
sep_conv_7x7 in place of dil_conv_5x5; "darts" is the DARTS vocabulary itself, in DARTS's
PRIMITIVES order (choice index = column of a DARTS alpha matrix), which the published DARTS-family
cells (P-DARTS, PC-DARTS, GDAS, SNAS, DrNAS, ...) need, since most of them use dil_conv_5x5.

Encoding (fixed project-wide): positions 0..13 normal cell, 14..27 reduction cell; within a cell
the edges are ordered by target then source: 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, 4<-0, ..., 5<-4.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from samplenas.errors import UserError
from samplenas.spaces.base import Arch, InvalidArchitecture, SearchSpace, SpaceSize

OP_SETS = {
    "vaenas": (
        "none",
        "avg_pool_3x3",
        "max_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "sep_conv_7x7",
        "dil_conv_3x3",
    ),
    "darts": (  # quark0/darts cnn/genotypes.py PRIMITIVES, same order
        "none",
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
    ),
}
DEFAULT_OPS = "vaenas"
OP_NAMES = OP_SETS[DEFAULT_OPS]  # the default op set's names (kept for callers of the single-set API)
NONE = 0  # 'none' is choice 0 in every op set
CELL_NAMES = ("normal", "reduce")
INPUT_NODES = 2
NODES = (2, 3, 4, 5)
EDGES = tuple((src, dst) for dst in NODES for src in range(dst))  # (source, target) per cell position
EDGES_PER_CELL = len(EDGES)


def node_positions(node: int) -> range:
    """The positions (within one cell) of the edges entering intermediate node `node`."""
    start = node * (node - 1) // 2 - 1
    return range(start, start + node)


class DartsGenotype(NamedTuple):
    """DARTS genotype cells: (op, input) pairs, entries 2i and 2i+1 feed intermediate node i+2."""

    normal: tuple[tuple[str, int], ...]
    reduce: tuple[tuple[str, int], ...]


# DARTS (second order) CIFAR-10 cell, quark0/darts cnn/genotypes.py `DARTS_V2`
# (Liu et al., "DARTS: Differentiable Architecture Search", ICLR 2019, Fig. 4/5; 3.3M params).
DARTS_V2 = DartsGenotype(
    normal=(
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1), ("skip_connect", 0),
        ("skip_connect", 0), ("dil_conv_3x3", 2),
    ),
    reduce=(
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("skip_connect", 2), ("max_pool_3x3", 1),
        ("max_pool_3x3", 0), ("skip_connect", 2),
        ("skip_connect", 2), ("max_pool_3x3", 1),
    ),
)  # fmt: skip

# Published DARTS-family cells that use dil_conv_5x5, so they need NASNetSpace(ops="darts").
# Copied exactly (as data) from the authors' genotypes.py; all concatenate nodes 2..5.

# P-DARTS CIFAR-10 cell: chenxin061/pdarts genotypes.py `PDARTS` (Chen et al., ICCV 2019; 3.4M params).
PDARTS = DartsGenotype(
    normal=(
        ("skip_connect", 0), ("dil_conv_3x3", 1),
        ("skip_connect", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 3),
        ("sep_conv_3x3", 0), ("dil_conv_5x5", 4),
    ),
    reduce=(
        ("avg_pool_3x3", 0), ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
        ("max_pool_3x3", 0), ("dil_conv_3x3", 1),
        ("dil_conv_3x3", 1), ("dil_conv_5x5", 3),
    ),
)  # fmt: skip

# PC-DARTS ImageNet cell: yuhuixu1993/PC-DARTS genotypes.py `PC_DARTS_image` (Xu et al., ICLR 2020).
PC_DARTS_IMAGENET = DartsGenotype(
    normal=(
        ("skip_connect", 1), ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 0), ("skip_connect", 1),
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 3),
        ("sep_conv_3x3", 1), ("dil_conv_5x5", 4),
    ),
    reduce=(
        ("sep_conv_3x3", 0), ("skip_connect", 1),
        ("dil_conv_5x5", 2), ("max_pool_3x3", 1),
        ("sep_conv_3x3", 2), ("sep_conv_3x3", 1),
        ("sep_conv_5x5", 0), ("sep_conv_3x3", 3),
    ),
)  # fmt: skip

# GDAS (FRC) cell: D-X-Y/AutoDL-Projects lib/nas_infer_model/DXYs/genotypes.py `GDAS_V1`
# (Dong & Yang, CVPR 2019), its per-node pairs flattened.
GDAS_V1 = DartsGenotype(
    normal=(
        ("skip_connect", 0), ("skip_connect", 1),
        ("skip_connect", 0), ("sep_conv_5x5", 2),
        ("sep_conv_3x3", 3), ("skip_connect", 0),
        ("sep_conv_5x5", 4), ("sep_conv_3x3", 3),
    ),
    reduce=(
        ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
        ("sep_conv_5x5", 2), ("sep_conv_5x5", 1),
        ("dil_conv_5x5", 2), ("sep_conv_3x3", 1),
        ("sep_conv_5x5", 0), ("sep_conv_5x5", 1),
    ),
)  # fmt: skip

# SNAS (mild constraint) cell: SNAS-Series/SNAS-Series SNAS/genotypes.py `SNAS_mild` (Xie et al., ICLR 2019).
SNAS_MILD = DartsGenotype(
    normal=(
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("skip_connect", 0), ("dil_conv_3x3", 1),
        ("skip_connect", 0), ("skip_connect", 1),
        ("skip_connect", 0), ("sep_conv_3x3", 1),
    ),
    reduce=(
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("max_pool_3x3", 1), ("skip_connect", 2),
        ("max_pool_3x3", 1), ("skip_connect", 2),
        ("max_pool_3x3", 0), ("dil_conv_5x5", 2),
    ),
)  # fmt: skip

# DrNAS CIFAR-10 cell: xiangning-chen/DrNAS DARTS-space/genotypes.py `DrNAS_cifar10` (Chen et al., ICLR 2021).
DRNAS_CIFAR10 = DartsGenotype(
    normal=(
        ("sep_conv_3x3", 0), ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
        ("skip_connect", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 2), ("dil_conv_5x5", 3),
    ),
    reduce=(
        ("max_pool_3x3", 0), ("sep_conv_5x5", 1),
        ("dil_conv_5x5", 2), ("sep_conv_5x5", 1),
        ("sep_conv_5x5", 1), ("dil_conv_5x5", 3),
        ("skip_connect", 4), ("sep_conv_5x5", 1),
    ),
)  # fmt: skip

# name -> (genotype, op set it needs); DARTS_V2 fits both sets.
PUBLISHED = {
    "darts_v2": (DARTS_V2, "vaenas"),
    "pdarts": (PDARTS, "darts"),
    "pc_darts_imagenet": (PC_DARTS_IMAGENET, "darts"),
    "gdas_v1": (GDAS_V1, "darts"),
    "snas_mild": (SNAS_MILD, "darts"),
    "drnas_cifar10": (DRNAS_CIFAR10, "darts"),
}

_TERM = re.compile(r"^([a-z0-9_]+)<-(\d+)$")
_NODE = re.compile(r"^node(\d+)=(.+)$")


def op_names(ops: str) -> tuple[str, ...]:
    """The op names of the op set called `ops` ('none' first); UserError naming the valid sets."""
    if ops not in OP_SETS:
        raise UserError(f"nasnet: unknown op set {ops!r}; valid: {', '.join(sorted(OP_SETS))}")
    return OP_SETS[ops]


class NASNetSpace(SearchSpace):
    """Joint normal + reduction cell space of VAENAS A.4 (DARTS ops + sep_conv_7x7, 'none' allowed).

    `ops` picks the op set (see the module docstring): "vaenas" (default) or "darts".

    Validity: every intermediate node keeps at least one non-'none' input. All four nodes are
    concatenated into the cell output, so a node with no input would be an all-zero tensor that
    the network still pays for; the rule removes exactly those encodings and nothing else. Since it
    constrains each node's group of edges separately, the valid set is a product over nodes, which
    makes exact counting, uniform sampling and repair-free node-wise crossover easy.

    Key: two encodings share a key when they differ only by renumbering the intermediate nodes in
    a way that keeps every used edge pointing forward (e.g. nodes 2 and 3 swapped when 3 does not
    read from 2). Such cells compute the same function up to the order of the concatenated output
    channels, which the next cell's 1x1 preprocessing (and the classifier) absorbs, so they have the
    same parameter count, cost and capacity -- the same reasoning as NAS-Bench-101's isomorphism
    hash. Renumberings that would reverse a used edge are not equivalences (node order decides who
    may feed whom) and are not merged. The key is the lexicographically smallest such relabelling,
    per cell.
    """

    name = "nasnet"

    def __init__(self, ops: str = DEFAULT_OPS):
        self.op_names = op_names(ops)
        self.ops = ops
        self.dims = (len(self.op_names),) * (2 * EDGES_PER_CELL)

    # --- structure -------------------------------------------------------------------------
    def position_names(self) -> list[str]:
        return [f"{cell}.node{dst}<-{src}" for cell in CELL_NAMES for src, dst in EDGES]

    def choice_names(self, position: int) -> list[str]:
        return list(self.op_names)

    def size(self) -> SpaceSize:
        ops = len(self.op_names)
        per_cell = 1
        for node in NODES:
            per_cell *= ops**node - 1  # all assignments of the node's edges except all-'none'
        return SpaceSize(per_cell**2, True)

    # --- validity --------------------------------------------------------------------------
    def validate(self, arch: Sequence[int]) -> Arch:
        values = self.check_encoding(arch)
        for cell_index, cell in enumerate(CELL_NAMES):
            offset = cell_index * EDGES_PER_CELL
            for node in NODES:
                if all(values[offset + p] == NONE for p in node_positions(node)):
                    raise InvalidArchitecture(
                        f"{self.name}: {cell} cell node {node} has no input "
                        f"(all {node} edges into it are 'none'; keep at least one)"
                    )
        return values

    # --- sampling and variation -----------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over valid encodings: each node's edge group is drawn uniformly among its
        non-all-'none' assignments (rejection), independently, which is uniform over the product."""
        arch: list[int] = []
        for _cell in CELL_NAMES:
            for node in NODES:
                while True:
                    group = [int(v) for v in rng.integers(0, len(self.op_names), size=node)]
                    if any(group):
                        break
                arch.extend(group)
        return tuple(arch)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change the op on one uniformly chosen edge to a different op that keeps the node valid."""
        values = list(self.validate(arch))
        position = int(rng.integers(len(values)))
        cell_offset = position - position % EDGES_PER_CELL
        node = EDGES[position % EDGES_PER_CELL][1]
        others_alive = any(values[cell_offset + p] != NONE for p in node_positions(node) if cell_offset + p != position)
        choices = [c for c in range(len(self.op_names)) if c != values[position] and (c != NONE or others_alive)]
        values[position] = int(rng.choice(choices))
        return tuple(values)

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Node-wise uniform crossover: each node's whole group of incoming edges comes from one
        parent (coin flip), so every node keeps an input and no repair is needed."""
        parents = (self.validate(a), self.validate(b))
        child: list[int] = []
        for cell_index in range(len(CELL_NAMES)):
            offset = cell_index * EDGES_PER_CELL
            for node in NODES:
                donor = parents[int(rng.integers(2))]
                child.extend(donor[offset + p] for p in node_positions(node))
        return tuple(child)

    # --- identity and text -----------------------------------------------------------------
    def key(self, arch: Arch) -> str:
        values = self.validate(arch)
        canonical: list[int] = []
        for cell_index in range(len(CELL_NAMES)):
            offset = cell_index * EDGES_PER_CELL
            canonical.extend(_canonical_cell(values[offset : offset + EDGES_PER_CELL]))
        return ",".join(map(str, canonical))

    def to_str(self, arch: Arch) -> str:
        """E.g. `normal: node2=sep_conv_3x3<-0+sep_conv_3x3<-1; node3=... | reduce: node2=...`."""
        values = self.validate(arch)
        cells = []
        for cell_index, cell in enumerate(CELL_NAMES):
            offset = cell_index * EDGES_PER_CELL
            nodes = []
            for node in NODES:
                terms = [
                    f"{self.op_names[values[offset + p]]}<-{EDGES[p][0]}"
                    for p in node_positions(node)
                    if values[offset + p] != NONE
                ]
                nodes.append(f"node{node}=" + "+".join(terms))
            cells.append(f"{cell}: " + "; ".join(nodes))
        return " | ".join(cells)

    def from_str(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise InvalidArchitecture(f"{self.name}: expected a string, got {type(text).__name__}")
        parts = text.split("|")
        if len(parts) != len(CELL_NAMES):
            raise InvalidArchitecture(
                f"{self.name}: expected 'normal: ... | reduce: ...' (two cells separated by '|'), got {text!r}"
            )
        arch: list[int] = []
        for part, cell in zip(parts, CELL_NAMES):
            name, colon, body = part.partition(":")
            if not colon or name.strip() != cell:
                raise InvalidArchitecture(
                    f"{self.name}: expected the {cell!r} cell as '{cell}: ...', got {part.strip()!r}"
                )
            arch.extend(self._parse_cell(cell, body))
        return self.validate(arch)

    def _parse_cell(self, cell: str, body: str) -> list[int]:
        values = [NONE] * EDGES_PER_CELL
        seen: set[int] = set()
        for chunk in body.split(";"):
            match = _NODE.match(chunk.replace(" ", ""))
            if match is None:
                raise InvalidArchitecture(
                    f"{self.name}: {cell}: cannot read node {chunk.strip()!r} (want nodeJ=op<-i+...)"
                )
            node = int(match.group(1))
            if node not in NODES or node in seen:
                raise InvalidArchitecture(
                    f"{self.name}: {cell}: node{node} is unknown or repeated (nodes are 2..5, once each)"
                )
            seen.add(node)
            for term in match.group(2).split("+"):
                term_match = _TERM.match(term)
                if term_match is None:
                    raise InvalidArchitecture(f"{self.name}: {cell} node{node}: cannot read {term!r} (want op<-input)")
                self._set_edge(cell, node, term_match.group(1), int(term_match.group(2)), values)
        if seen != set(NODES):
            missing = ", ".join(f"node{n}" for n in NODES if n not in seen)
            raise InvalidArchitecture(f"{self.name}: {cell}: missing {missing}")
        return values

    # --- DARTS genotypes --------------------------------------------------------------------
    def from_genotype(self, normal: Sequence[tuple[str, int]], reduce: Sequence[tuple[str, int]]) -> Arch:
        """Encode DARTS-style cells (two (op, input) pairs per node, entries 2i, 2i+1 -> node i+2)."""
        arch: list[int] = []
        for cell, pairs in zip(CELL_NAMES, (normal, reduce)):
            pairs = list(pairs)
            if len(pairs) != 2 * len(NODES):
                raise InvalidArchitecture(
                    f"{self.name}: {cell} genotype has {len(pairs)} entries, expected {2 * len(NODES)}"
                )
            values = [NONE] * EDGES_PER_CELL
            for index, pair in enumerate(pairs):
                try:
                    op, src = pair
                    src = int(src)
                except (TypeError, ValueError):
                    raise InvalidArchitecture(
                        f"{self.name}: {cell} genotype entry {pair!r} is not (op, input)"
                    ) from None
                self._set_edge(cell, NODES[index // 2], op, src, values)
            arch.extend(values)
        return self.validate(arch)

    def to_genotype(self, arch: Arch) -> DartsGenotype:
        """DARTS form of an architecture whose every node has exactly two inputs (sorted by source)."""
        values = self.validate(arch)
        cells = []
        for cell_index, cell in enumerate(CELL_NAMES):
            offset = cell_index * EDGES_PER_CELL
            pairs = []
            for node in NODES:
                inputs = [
                    (self.op_names[values[offset + p]], EDGES[p][0])
                    for p in node_positions(node)
                    if values[offset + p] != NONE
                ]
                if len(inputs) != 2:
                    raise InvalidArchitecture(
                        f"{self.name}: {cell} cell node {node} has {len(inputs)} inputs; "
                        "a DARTS genotype needs exactly 2 per node"
                    )
                pairs.extend(inputs)
            cells.append(tuple(pairs))
        return DartsGenotype(*cells)

    def _set_edge(self, cell: str, node: int, op: str, src: int, values: list[int]) -> None:
        """Put `op` on the edge src -> node of one cell's `values`, checking the op name (pointing to
        the op set that has it), the source range and that the edge is not set twice (the encoding has
        one op per edge)."""
        where = f"{self.name}: {cell} node{node}"
        if op not in self.op_names[1:]:
            others = [name for name, names in sorted(OP_SETS.items()) if op in names[1:]]
            hint = f" ({op!r} is in the {others[0]!r} op set: use ops={others[0]!r})" if others else ""
            raise InvalidArchitecture(
                f"{where}: unknown op {op!r} in op set {self.ops!r}; valid: {', '.join(self.op_names[1:])}{hint}"
            )
        if not 0 <= src < node:
            raise InvalidArchitecture(f"{where}: input {src} out of range 0..{node - 1}")
        position = node_positions(node)[src]
        if values[position] != NONE:
            raise InvalidArchitecture(f"{where}: two edges from node {src}; this space has one op per edge")
        values[position] = self.op_names.index(op)


def _canonical_cell(cell: Sequence[int]) -> list[int]:
    """Smallest encoding among renumberings of nodes 2..5 that keep every used edge forward."""
    used = {(src, dst): op for (src, dst), op in zip(EDGES, cell) if op != NONE}
    best: list[int] | None = None
    for order in itertools.permutations(NODES):
        relabel = {old: new for new, old in zip(NODES, order)}
        relabel.update({i: i for i in range(INPUT_NODES)})
        if any(relabel[src] >= relabel[dst] for src, dst in used):
            continue
        moved = {(relabel[src], relabel[dst]): op for (src, dst), op in used.items()}
        candidate = [moved.get(edge, NONE) for edge in EDGES]
        if best is None or candidate < best:
            best = candidate
    return best
