"""NAS-Bench-101 cells: the official ModelSpec semantics and graph hash, and the search space.

`ModelSpec` keeps the attribute names and pruning of `nasbench.lib.model_spec.ModelSpec`, and
`hash_module` reproduces `nasbench.lib.graph_util.hash_module` bit for bit (it is the key of every
row of the NAS-Bench-101 table), so code written for the official API ports by changing an import.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence

import numpy as np

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
CANONICAL_OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)
NUM_VERTICES = 7
MAX_EDGES = 9


def is_upper_triangular(matrix: np.ndarray) -> bool:
    """True when nothing lies on or below the diagonal (the graph is a DAG in vertex order)."""
    return not np.any(np.tril(matrix))


def hash_module(matrix: np.ndarray, labeling: Sequence[int]) -> str:
    """The official NAS-Bench-101 graph hash (iterated Weisfeiler-Lehman-style md5 of labels).

    `labeling` is -1 for input, -2 for output and the index into CANONICAL_OPS otherwise.
    Isomorphic labelled graphs get the same hash.
    """
    matrix = np.asarray(matrix)
    vertices = matrix.shape[0]
    in_edges = [int(v) for v in matrix.sum(axis=0)]
    out_edges = [int(v) for v in matrix.sum(axis=1)]
    labels = [int(v) for v in labeling]
    hashes = [hashlib.md5(str(h).encode("utf-8")).hexdigest() for h in zip(out_edges, in_edges, labels)]
    for _ in range(vertices):
        new_hashes = []
        for v in range(vertices):
            in_neighbours = sorted(hashes[w] for w in range(vertices) if matrix[w, v])
            out_neighbours = sorted(hashes[w] for w in range(vertices) if matrix[v, w])
            text = "".join(in_neighbours) + "|" + "".join(out_neighbours) + "|" + hashes[v]
            new_hashes.append(hashlib.md5(text.encode("utf-8")).hexdigest())
        hashes = new_hashes
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


class ModelSpec:
    """A NAS-Bench-101 cell: adjacency matrix + op labels, pruned as the official API prunes.

    Vertices not on some input-to-output path are removed; `original_matrix`/`original_ops`
    keep what was given. When input cannot reach output, `valid_spec` is False and
    `matrix`/`ops` are None.
    """

    def __init__(self, matrix, ops: Sequence[str], data_format: str = "channels_last"):
        if not isinstance(matrix, np.ndarray):
            matrix = np.array(matrix)
        shape = np.shape(matrix)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError("matrix must be square")
        if shape[0] != len(ops):
            raise ValueError("length of ops must match matrix dimensions")
        if not is_upper_triangular(matrix):
            raise ValueError("matrix must be upper triangular")
        self.original_matrix = copy.deepcopy(matrix)
        self.original_ops = list(ops)
        self.matrix = copy.deepcopy(matrix)
        self.ops = list(ops)
        self.valid_spec = True
        self.data_format = data_format
        self._prune()

    def _prune(self) -> None:
        num_vertices = np.shape(self.original_matrix)[0]
        from_input = _reachable(self.original_matrix, 0, forward=True)
        to_output = _reachable(self.original_matrix, num_vertices - 1, forward=False)
        extraneous = set(range(num_vertices)) - (from_input & to_output)
        if len(extraneous) > num_vertices - 2:
            self.matrix = None
            self.ops = None
            self.valid_spec = False
            return
        keep = [v for v in range(num_vertices) if v not in extraneous]
        self.matrix = self.matrix[np.ix_(keep, keep)]
        self.ops = [self.ops[v] for v in keep]

    def hash_spec(self, canonical_ops: Sequence[str] = CANONICAL_OPS) -> str:
        """The official module hash of the pruned cell."""
        if not self.valid_spec:
            raise ValueError("cannot hash an invalid spec (input does not reach output)")
        labeling = [-1] + [list(canonical_ops).index(op) for op in self.ops[1:-1]] + [-2]
        return hash_module(self.matrix, labeling)

    def __repr__(self) -> str:
        return f"ModelSpec(matrix={self.original_matrix.tolist()}, ops={self.original_ops})"


def _reachable(matrix: np.ndarray, start: int, forward: bool) -> set[int]:
    """Vertices reachable from `start` along edges (forward) or against them (backward)."""
    n = matrix.shape[0]
    seen = {start}
    frontier = [start]
    while frontier:
        top = frontier.pop()
        neighbours = range(top + 1, n) if forward else range(0, top)
        for v in neighbours:
            edge = matrix[top, v] if forward else matrix[v, top]
            if edge and v not in seen:
                seen.add(v)
                frontier.append(v)
    return seen


def spec_problem(spec: ModelSpec) -> str | None:
    """Why a spec is outside the NAS-Bench-101 space (the official `_check_spec` rules), or None."""
    if not spec.valid_spec:
        return "input does not reach output"
    num_vertices = len(spec.ops)
    num_edges = int(np.sum(spec.matrix))
    if num_vertices > NUM_VERTICES:
        return f"{num_vertices} vertices after pruning, at most {NUM_VERTICES} allowed"
    if num_edges > MAX_EDGES:
        return f"{num_edges} edges after pruning, at most {MAX_EDGES} allowed"
    if spec.ops[0] != INPUT:
        return f"first op must be {INPUT!r}, got {spec.ops[0]!r}"
    if spec.ops[-1] != OUTPUT:
        return f"last op must be {OUTPUT!r}, got {spec.ops[-1]!r}"
    for op in spec.ops[1:-1]:
        if op not in CANONICAL_OPS:
            return f"unknown op {op!r}; allowed: {', '.join(CANONICAL_OPS)}"
    return None
