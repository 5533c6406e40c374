"""Find a NAS-Bench-101 table row by the cell's structure, without computing its hash.

The official hash costs about 57 chained md5 digests per cell, most of a single query's time. A
table stores one vertex order of each cell it holds (its `adjacency` and `ops`), and a cell has only
a few vertex orders in which every edge points forward (a query tries 2.5 on average when a search
hands cells over in a random such order). `CellIndex` keys each stored form by its edge bits (the
official bit order), interior op codes and vertex count, sorted once at open; a query walks the
spec's forward orders until one is a stored form. A match means the spec is isomorphic to that row's
cell, so its hash is that row's key: the table's hash of each row is the hash of the cell stored
with it (`tools/check_nb101_hashes.py` re-hashes every row of the shared table). A spec matching no
stored form is not in the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from samplenas.errors import UserError
from samplenas.spaces.nasbench101 import CANONICAL_OPS, NUM_VERTICES

INPUT_CODE, OUTPUT_CODE = -1, -2  # the op codes of the table's first and last vertex of a cell
EDGE_BITS = NUM_VERTICES * (NUM_VERTICES - 1) // 2  # 21: edge (x, y), x < y, is bit y(y-1)/2 + x
OP_BITS = 2  # per interior vertex, its index into CANONICAL_OPS
VERTEX_SHIFT = EDGE_BITS + OP_BITS * NUM_VERTICES
_OP_CODE = {op: code for code, op in enumerate(CANONICAL_OPS)}
_TRIANGLE = [y * (y - 1) // 2 for y in range(NUM_VERTICES)]
_UPPER = [x * NUM_VERTICES + y for y in range(NUM_VERTICES) for x in range(y)]  # flat index, in bit order
_EDGE_WEIGHTS = np.zeros((NUM_VERTICES * NUM_VERTICES, 2), dtype=np.float32)  # column 0: edge bits, 1: other edges
_EDGE_WEIGHTS[:, 1] = 1
_EDGE_WEIGHTS[_UPPER] = [(1 << bit, 0) for bit in range(EDGE_BITS)]
_OP_WEIGHTS = np.array([1 << (OP_BITS * p) for p in range(NUM_VERTICES)], dtype=np.float32)


def form_keys(adjacency: np.ndarray, ops: np.ndarray, num_vertices: np.ndarray) -> np.ndarray:
    """One int64 per stored cell (padded [N,7,7] adjacency, [N,7] op codes, [N] vertex counts);
    -1 for a row that is not a cell in topological order from input to output (it never matches)."""
    n = np.asarray(num_vertices, dtype=np.int64)
    edges = np.asarray(adjacency).reshape(len(n), NUM_VERTICES * NUM_VERTICES) != 0
    bits, lower = (edges.astype(np.float32) @ _EDGE_WEIGHTS).T  # float32 sums of < 2^24: exact, and BLAS-fast
    codes = np.asarray(ops)
    vertex = np.arange(NUM_VERTICES)[None, :]
    interior = (vertex >= 1) & (vertex < n[:, None] - 1)
    labels = np.where(interior, codes, 0).astype(np.float32) @ _OP_WEIGHTS
    ok = ((codes[:, 0] == INPUT_CODE) & (np.take_along_axis(codes, n[:, None] - 1, axis=1)[:, 0] == OUTPUT_CODE)
          & ((codes >= 0) & (codes < len(CANONICAL_OPS)) | ~interior).all(axis=1) & (lower == 0))
    keys = bits.astype(np.int64) | labels.astype(np.int64) << EDGE_BITS | n << VERTEX_SHIFT
    return np.where(ok, keys, -1)


class CellIndex:
    """Rows of a table by the stored form of their cell; `row(matrix, ops)` finds any vertex order of it."""

    def __init__(self, adjacency: np.ndarray, ops: np.ndarray, num_vertices: np.ndarray, hashes: np.ndarray):
        keys = form_keys(adjacency, ops, num_vertices)
        self._rows = np.argsort(keys)
        self._keys = keys[self._rows]
        same = np.flatnonzero((self._keys[1:] == self._keys[:-1]) & (self._keys[1:] >= 0))
        if len(same):
            a, b = self._rows[same[0]], self._rows[same[0] + 1]
            raise UserError(f"the table stores one cell twice, under hashes {hashes[a].decode('ascii', 'replace')} "
                            f"and {hashes[b].decode('ascii', 'replace')}")

    def row(self, matrix: np.ndarray, ops: Sequence[str]) -> int | None:
        """The row whose cell is isomorphic to the pruned cell (`matrix`, `ops`: upper triangular,
        input first, output last, canonical ops), or None when the table does not hold it."""
        n = len(ops)
        last = n - 1
        preds: list[list[int]] = [[] for _ in range(n)]
        need = [0] * n
        key = n << VERTEX_SHIFT  # the key of the given order (forward already), built on the way
        sources, targets = matrix.nonzero()
        for u, v in zip(sources.tolist(), targets.tolist()):
            preds[v].append(u)
            need[v] |= 1 << u
            key |= 1 << (_TRIANGLE[v] + u)
        codes = [_OP_CODE[op] for op in ops[1:last]]
        for p, code in enumerate(codes, 1):
            key |= code << (EDGE_BITS + OP_BITS * p)
        keys, found = self._keys, self._rows
        i = int(keys.searchsorted(key))
        if i < len(keys) and keys[i] == key:  # most often the table's own order: a search hands rows back
            return int(found[i])
        position = [0] * n
        end = (_TRIANGLE[last], preds[last])

        def walk(p: int, placed: int, key: int) -> int | None:
            """Extend a forward order whose first p vertices are placed; the row of the first stored one."""
            if p == last:
                offset, into = end
                for u in into:
                    key |= 1 << (offset + position[u])
                i = int(keys.searchsorted(key))
                return int(found[i]) if i < len(keys) and keys[i] == key else None
            offset = _TRIANGLE[p]
            for v in range(1, last):
                if not placed >> v & 1 and not need[v] & ~placed:
                    position[v] = p
                    bits = key | codes[v - 1] << (EDGE_BITS + OP_BITS * p)
                    for u in preds[v]:
                        bits |= 1 << (offset + position[u])
                    row = walk(p + 1, placed | 1 << v, bits)
                    if row is not None:
                        return row
            return None

        return walk(1, 1, n << VERTEX_SHIFT)


def random_forward_order(matrix: np.ndarray, rng: np.random.Generator) -> list[int]:
    """A random vertex order, input first and output last, in which every edge still points forward: the
    same cell as a search may hand it over (tests and benchmarks query cells in such orders)."""
    n = len(matrix)
    order = [0]
    while len(order) < n - 1:
        ready = [v for v in range(1, n - 1) if v not in order and all(u in order for u in np.flatnonzero(matrix[:, v]))]
        order.append(int(rng.choice(ready)))
    return order + [n - 1]
