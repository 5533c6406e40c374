"""NAS-Bench-101 cells: the official ModelSpec semantics and graph hash, and the search space.

`ModelSpec` keeps the attribute names and pruning of `nasbench.lib.model_spec.ModelSpec`, and
`hash_module` reproduces `nasbench.lib.graph_util.hash_module` bit for bit (it is the key of every
row of the NAS-Bench-101 table), so code written for the official API ports by changing an import.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence

import numpy as np

try:  # CPython's own md5: the same digest as hashlib's OpenSSL one, with less overhead per call
    from _md5 import md5
except ImportError:  # builds without it (e.g. FIPS-only)
    from hashlib import md5

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
CANONICAL_OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)
NUM_VERTICES = 7
MAX_EDGES = 9
HASH_CACHE_SIZE = 2**16  # distinct cells whose hash is kept (~10 MB); a search queries far fewer


def is_upper_triangular(matrix: np.ndarray) -> bool:
    """True when nothing lies on or below the diagonal (the graph is a DAG in vertex order)."""
    return not np.any(np.tril(matrix))


def hash_module(matrix: np.ndarray, labeling: Sequence[int]) -> str:
    """The official NAS-Bench-101 graph hash (iterated Weisfeiler-Lehman-style md5 of labels).

    `labeling` is -1 for input, -2 for output and the index into CANONICAL_OPS otherwise.
    Isomorphic labelled graphs get the same hash. The md5 chain is the official one, bit for bit;
    only the work around it is trimmed: neighbour lists are built once from plain lists, the
    first round's digests (of out-degree, in-degree, label) are looked up instead of recomputed,
    and md5 is CPython's built-in implementation where present (less call overhead than OpenSSL's).
    """
    rows = np.asarray(matrix).tolist()
    vertices = range(len(rows))
    in_neighbours = [[w for w in vertices if rows[w][v]] for v in vertices]
    out_neighbours = [[w for w in vertices if rows[v][w]] for v in vertices]
    hashes = [_label_hash(sum(rows[v]), sum(rows[w][v] for w in vertices), int(label))
              for v, label in zip(vertices, labeling)]
    for _ in vertices:
        hashes = [
            md5(("".join(sorted([hashes[w] for w in in_neighbours[v]])) + "|"
                 + "".join(sorted([hashes[w] for w in out_neighbours[v]])) + "|" + hashes[v]).encode("utf-8")
                ).hexdigest()
            for v in vertices
        ]
    return md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


@functools.cache
def _label_hash(out_edges: int, in_edges: int, label: int) -> str:
    """The official first-round digest of a vertex (a few hundred distinct values in the space)."""
    return md5(str((out_edges, in_edges, label)).encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=HASH_CACHE_SIZE)
def _cell_hash(matrix: bytes | np.ndarray, dtype: str | None, ops: tuple[str, ...],
               canonical_ops: tuple[str, ...]) -> str:
    """`hash_module` of a pruned cell given by its exact form (matrix bytes and dtype, op names;
    dtype None: `matrix` is the array itself, for the uncached call).

    The hash is a function of exactly these values, so a cached answer is the computed one; searches
    and benchmark loops query the same cells again and again, and a repeat then costs a dict lookup.
    """
    labeling = [-1] + [canonical_ops.index(op) for op in ops[1:-1]] + [-2]
    if dtype is not None:
        matrix = np.frombuffer(matrix, dtype=dtype).reshape(len(ops), len(ops))
    return hash_module(matrix, labeling)


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
        matrix = np.ascontiguousarray(self.matrix)
        if matrix.dtype.kind not in "biu":  # bytes would not say what the values are: hash without the cache
            return _cell_hash.__wrapped__(matrix, None, tuple(self.ops), tuple(canonical_ops))
        return _cell_hash(matrix.tobytes(), matrix.dtype.str, tuple(self.ops), tuple(canonical_ops))

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
    num_edges = int(spec.matrix.sum())  # an ndarray after pruning; the method skips numpy's dispatch
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


# ---------------------------------------------------------------------------------------------
# The search space over the flat encoding of VAENAS appendix A.5
# ---------------------------------------------------------------------------------------------
from samplenas.spaces.base import Arch, InvalidArchitecture, SearchSpace, SpaceSize  # noqa: E402

EDGES = tuple((i, j) for i in range(NUM_VERTICES) for j in range(i + 1, NUM_VERTICES))
NUM_EDGE_BITS = len(EDGES)  # 21
NUM_OPS = NUM_VERTICES - 2  # 5 interior vertices
SHORT_OPS = ("conv3x3", "conv1x1", "maxpool3x3")
# 423,624 unique cells: Ying et al. 2019, "NAS-Bench-101", section 2.1 (re-checked in the table tests).
NUM_UNIQUE_CELLS = 423_624
# Distinct cells of each vertex count (2..7 after pruning) among the 423,624: counted in the table
# (nb101_table_repeat0.npz, every cell's pruned matrix); they sum to NUM_UNIQUE_CELLS.
CELLS_BY_VERTICES = {2: 1, 3: 6, 4: 84, 5: 2441, 6: 62010, 7: 359082}
_VERTEX_COUNTS = list(CELLS_BY_VERTICES)
_VERTEX_SHARES = np.array(list(CELLS_BY_VERTICES.values()), dtype=np.float64) / NUM_UNIQUE_CELLS
UNIFORM_DRAWS = ("encodings", "distinct-cells")
# Path encoding: an input-to-output path passes 0..5 interior ops, each one of 3.
PATH_OFFSETS = tuple(sum(len(CANONICAL_OPS) ** k for k in range(length)) for length in range(NUM_OPS + 1))
NUM_PATHS = PATH_OFFSETS[-1] + len(CANONICAL_OPS) ** NUM_OPS  # 364


def ops_of(arch: Arch) -> list[str]:
    """Full op list (input, five interior ops, output) of an encoded 7-vertex cell."""
    return [INPUT] + [CANONICAL_OPS[c] for c in arch[NUM_EDGE_BITS:]] + [OUTPUT]


def matrix_of(arch: Arch) -> np.ndarray:
    """The 7x7 upper-triangular adjacency of an encoded cell (before pruning)."""
    matrix = np.zeros((NUM_VERTICES, NUM_VERTICES), dtype=np.int64)
    for bit, (i, j) in zip(arch[:NUM_EDGE_BITS], EDGES):
        matrix[i, j] = bit
    return matrix


def _connected(edge_bits: Sequence[int]) -> bool:
    """Whether input (vertex 0) reaches output (vertex 6) through the given edge bits."""
    reached = {0}
    for bit, (i, j) in zip(edge_bits, EDGES):  # EDGES is sorted by source, so one pass suffices
        if bit and i in reached:
            reached.add(j)
    return NUM_VERTICES - 1 in reached


class NASBench101Space(SearchSpace):
    """NAS-Bench-101 cells as 21 upper-triangle edge bits + 5 interior ops (VAENAS A.5).

    Valid: at most 9 edges and the input reaches the output (pruning then removes dangling
    vertices exactly as the official API does). `key` is the official hash, so isomorphic cells
    and encodings that prune to the same cell share a key. `sample` is the paper's rule (21 random
    scores, top 9 become edges, redraw until connected).

    `sample_uniform` draws uniformly over distinct cells when given the NAS-Bench-101 table (`table=` an
    npz or converted .h5 holding all cells). Without it, `uniform_draws` decides: "encodings" (the
    default) is uniform over valid encodings, and since most edge sets prune to a few vertices, 99 % of
    its cells have fewer than 7 vertices (mean 3.7 edges), where 85 % of the distinct cells have 7 (mean
    8.7 edges). "distinct-cells" draws the vertex count in the distinct cells' proportions, then a graph
    of that many vertices with at most 9 edges and none dangling, uniformly: every pruned cell is then
    drawn about as often as every other, without the table (uniform over labelled graphs, so a cell
    counts once per vertex order that keeps it upper-triangular).
    """

    name = "nb101"
    dims = (2,) * NUM_EDGE_BITS + (len(CANONICAL_OPS),) * NUM_OPS

    def __init__(self, table: str | None = None, uniform_draws: str = "encodings"):
        if uniform_draws not in UNIFORM_DRAWS:
            raise ValueError(f"nb101: uniform_draws must be one of {', '.join(UNIFORM_DRAWS)}, got {uniform_draws!r}")
        self.table = table
        self.uniform_draws = uniform_draws
        self._cells: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # --- structure -------------------------------------------------------------------------
    def position_names(self) -> list[str]:
        return [f"e{i}{j}" for i, j in EDGES] + [f"op{v}" for v in range(1, NUM_VERTICES - 1)]

    def choice_names(self, position: int) -> list[str]:
        return ["off", "on"] if position < NUM_EDGE_BITS else list(SHORT_OPS)

    def size(self) -> SpaceSize:
        return SpaceSize(NUM_UNIQUE_CELLS, True)

    # --- conversion --------------------------------------------------------------------------
    def decode(self, arch: Sequence[int]) -> ModelSpec:
        """The pruned ModelSpec of a valid encoding."""
        arch = self.validate(arch)
        return ModelSpec(matrix_of(arch), ops_of(arch))

    def encode(self, spec: ModelSpec) -> Arch:
        """Flat encoding of a spec; a cell of fewer than 7 vertices leaves the spare ones unconnected.

        The pruned form is encoded: vertices keep their order, the output moves to vertex 6.
        """
        if not spec.valid_spec:
            raise InvalidArchitecture("nb101: cannot encode a spec whose input does not reach its output")
        problem = spec_problem(spec)
        if problem:
            raise InvalidArchitecture(f"nb101: {problem}")
        n = len(spec.ops)
        position = list(range(n - 1)) + [NUM_VERTICES - 1]  # pruned vertex -> encoded vertex
        bits = [0] * NUM_EDGE_BITS
        for a in range(n):
            for b in range(a + 1, n):
                if spec.matrix[a, b]:
                    bits[EDGES.index((position[a], position[b]))] = 1
        interior = [CANONICAL_OPS.index(op) for op in spec.ops[1:-1]]
        ops = interior + [0] * (NUM_OPS - len(interior))
        return self.validate(bits + ops)

    # --- validity ----------------------------------------------------------------------------
    def validate(self, arch: Sequence[int]) -> Arch:
        arch = self.check_encoding(arch)
        num_edges = sum(arch[:NUM_EDGE_BITS])
        if num_edges > MAX_EDGES:
            raise InvalidArchitecture(f"nb101: {num_edges} edges, at most {MAX_EDGES} allowed")
        if not _connected(arch[:NUM_EDGE_BITS]):
            raise InvalidArchitecture("nb101: the input does not reach the output")
        return arch

    # --- sampling and variation ---------------------------------------------------------------
    def _edges_from_scores(self, scores: np.ndarray) -> list[int] | None:
        top = np.argsort(-scores, kind="stable")[:MAX_EDGES]
        bits = [0] * NUM_EDGE_BITS
        for index in top:
            bits[int(index)] = 1
        return bits if _connected(bits) else None

    def sample(self, rng: np.random.Generator) -> Arch:
        """The paper's rule: 21 uniform scores, the top 9 become edges, redraw until connected."""
        while True:
            bits = self._edges_from_scores(rng.random(NUM_EDGE_BITS))
            if bits is not None:
                return tuple(bits) + tuple(int(v) for v in rng.integers(0, 3, NUM_OPS))

    def sample_uniform(self, rng: np.random.Generator) -> Arch:
        if self.table is not None:
            matrices, ops, counts = self._table_cells()
            row = int(rng.integers(len(counts)))
            n = int(counts[row])
            labels = [INPUT] + [CANONICAL_OPS[c] for c in ops[row, 1 : n - 1]] + [OUTPUT]
            return self.encode(ModelSpec(matrices[row, :n, :n], labels))
        if self.uniform_draws == "distinct-cells":
            return self._draw_pruned_cell(rng)
        while True:  # rejection: uniform over the 2^21 edge sets, keep the valid ones
            bits = [int(v) for v in rng.integers(0, 2, NUM_EDGE_BITS)]
            if sum(bits) <= MAX_EDGES and _connected(bits):
                return tuple(bits) + tuple(int(v) for v in rng.integers(0, 3, NUM_OPS))

    def _draw_pruned_cell(self, rng: np.random.Generator) -> Arch:
        """A vertex count in the distinct cells' proportions, then by rejection a graph on that many vertices
        with at most 9 edges, every vertex on an input-to-output path (so pruning keeps it), and uniform ops."""
        n = int(rng.choice(_VERTEX_COUNTS, p=_VERTEX_SHARES))
        upper = np.triu_indices(n, 1)
        while True:
            bits = rng.integers(0, 2, len(upper[0]))
            if bits.sum() > MAX_EDGES:
                continue
            matrix = np.zeros((n, n), dtype=np.int64)
            matrix[upper] = bits
            if len(_reachable(matrix, 0, True) & _reachable(matrix, n - 1, False)) == n:
                break
        labels = [INPUT] + [CANONICAL_OPS[int(c)] for c in rng.integers(0, len(CANONICAL_OPS), n - 2)] + [OUTPUT]
        return self.encode(ModelSpec(matrix, labels))

    def _table_cells(self):
        if self._cells is None:
            from samplenas.spaces.nb101_cells import load_cells  # only when a table is given

            self._cells = load_cells(self.table)
        return self._cells

    def sample_from_probs(self, probs: Sequence[np.ndarray], rng: np.random.Generator) -> Arch:
        """VAENAS A.5 decoding: 21 edge scores drawn from the decoded distribution, the top 9 kept,
        redrawn until connected; ops drawn from theirs.

        The scores are Gumbel-perturbed edge log-odds (Gumbel-top-9 = drawing 9 edges without
        replacement in proportion to their odds), so a decoder whose output barely depends on z
        still yields a spread of cells rather than one fixed top-9 edge set.
        """
        p_on = np.array([np.asarray(p, dtype=np.float64)[1] / np.sum(p) for p in probs[:NUM_EDGE_BITS]])
        p_on = np.clip(p_on, 1e-9, 1 - 1e-9)
        log_odds = np.log(p_on) - np.log1p(-p_on)
        for _ in range(10_000):
            bits = self._edges_from_scores(log_odds + rng.gumbel(size=NUM_EDGE_BITS))
            if bits is not None:
                break
        else:
            raise InvalidArchitecture("nb101: 10,000 edge redraws never connected input to output")
        ops = [int(rng.choice(3, p=np.asarray(p, dtype=np.float64) / np.sum(p))) for p in probs[NUM_EDGE_BITS:]]
        return tuple(bits) + tuple(ops)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Half the time swap an on-edge with an off-edge (redrawn until connected, as in A.5),
        otherwise give one interior vertex a different op."""
        arch = self.validate(arch)
        bits, ops = list(arch[:NUM_EDGE_BITS]), list(arch[NUM_EDGE_BITS:])
        if rng.random() < 0.5:
            on = [i for i, b in enumerate(bits) if b]
            off = [i for i, b in enumerate(bits) if not b]
            for _ in range(100):
                i, j = int(rng.choice(on)), int(rng.choice(off))
                trial = list(bits)
                trial[i], trial[j] = 0, 1
                if _connected(trial):
                    return tuple(trial) + tuple(ops)
        vertex = int(rng.integers(NUM_OPS))
        ops[vertex] = int((ops[vertex] + rng.integers(1, 3)) % 3)
        return tuple(bits) + tuple(ops)

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """A.5 crossover: in a copy of `a`, drop an edge only `a` has and add one only `b` has;
        disconnected children are dropped and the exchange retried. Each op comes from either parent."""
        a, b = self.validate(a), self.validate(b)
        ops = tuple(int(a[k] if rng.random() < 0.5 else b[k]) for k in range(NUM_EDGE_BITS, len(a)))
        only_a = [i for i in range(NUM_EDGE_BITS) if a[i] and not b[i]]
        only_b = [i for i in range(NUM_EDGE_BITS) if b[i] and not a[i]]
        if only_a and only_b:
            for _ in range(100):
                child = list(a[:NUM_EDGE_BITS])
                child[int(rng.choice(only_a))], child[int(rng.choice(only_b))] = 0, 1
                if _connected(child):
                    return tuple(child) + ops
        return tuple(a[:NUM_EDGE_BITS]) + ops

    # --- features ----------------------------------------------------------------------------
    def features(self, arch: Arch) -> np.ndarray:
        """Path encoding (BANANAS, White et al. 2021): which of the 364 op sequences of length 0-5
        occur as an input-to-output path of the pruned cell.

        It is the same for isomorphic cells and for encodings that prune alike (ops of dangling
        vertices and unused edges leave no trace), and predictors learn from it with far fewer
        samples than from the adjacency one-hot.
        """
        spec = self.decode(arch)
        out = np.zeros(NUM_PATHS, dtype=np.float32)
        labels = [CANONICAL_OPS.index(op) for op in spec.ops[1:-1]]
        last = len(spec.ops) - 1
        stack = [(0, 0, 0)]  # (vertex, ops on the path so far, their number in base 3)
        while stack:
            vertex, length, number = stack.pop()
            for nxt in np.flatnonzero(spec.matrix[vertex]):
                if nxt == last:
                    out[PATH_OFFSETS[length] + number] = 1.0
                else:
                    stack.append((int(nxt), length + 1, len(CANONICAL_OPS) * number + labels[nxt - 1]))
        return out

    # --- identity and text ---------------------------------------------------------------------
    def key(self, arch: Arch) -> str:
        return self.decode(arch).hash_spec()

    def to_str(self, arch: Arch) -> str:
        arch = self.validate(arch)
        edges = ",".join(f"{i}-{j}" for bit, (i, j) in zip(arch, EDGES) if bit)
        ops = ",".join(SHORT_OPS[c] for c in arch[NUM_EDGE_BITS:])
        return f"ops={ops} edges={edges}"

    def describe(self, arch: Arch) -> str:
        """`to_str`, followed by the pruned cell (official pruning) when pruning changes it."""
        spec = self.decode(arch)
        if np.array_equal(spec.matrix, spec.original_matrix) and spec.ops == spec.original_ops:
            return self.to_str(arch)
        if len(spec.ops) == 2:  # is_degenerate, without decoding again
            return f"{self.to_str(arch)}  [pruned: input->output, no operation]"
        n = len(spec.ops)
        ops = ",".join(SHORT_OPS[CANONICAL_OPS.index(op)] for op in spec.ops[1:-1])
        edges = ",".join(f"{i}-{j}" for i in range(n) for j in range(i + 1, n) if spec.matrix[i, j])
        return f"{self.to_str(arch)}  [pruned: {n} vertices, ops={ops} edges={edges}]"

    def is_degenerate(self, arch: Arch) -> bool:
        """The pruned cell is input -> output: no conv or pool at all (its table accuracy is the stem's)."""
        return len(self.decode(arch).ops) == 2

    def operation_count(self, arch: Arch) -> int:
        """The pruned cell's interior vertices (the ops of the network the official API builds)."""
        return len(self.decode(arch).ops) - 2

    def from_str(self, text: str) -> Arch:
        fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
        if set(fields) != {"ops", "edges"} or len(text.split()) != 2:
            raise InvalidArchitecture(f"nb101: expected 'ops=A,B,C,D,E edges=0-1,1-6,...', got {text!r}")
        ops = fields["ops"].split(",")
        if len(ops) != NUM_OPS:
            raise InvalidArchitecture(f"nb101: {len(ops)} ops given, expected {NUM_OPS}")
        unknown = [op for op in ops if op not in SHORT_OPS]
        if unknown:
            raise InvalidArchitecture(f"nb101: unknown op {unknown[0]!r}; allowed: {', '.join(SHORT_OPS)}")
        bits = [0] * NUM_EDGE_BITS
        for edge in filter(None, fields["edges"].split(",")):
            try:
                i, j = (int(v) for v in edge.split("-"))
                bits[EDGES.index((i, j))] = 1
            except ValueError:
                raise InvalidArchitecture(
                    f"nb101: bad edge {edge!r}; edges are i-j with 0 <= i < j <= 6"
                ) from None
        return self.validate(bits + [SHORT_OPS.index(op) for op in ops])
