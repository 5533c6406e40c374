"""NB101 cells against the official hashing and pruning, and the flat-encoding space."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samplenas.spaces import SPACES, InvalidArchitecture
from samplenas.spaces.nasbench101 import (
    CANONICAL_OPS,
    CELLS_BY_VERTICES,
    CONV1X1,
    CONV3X3,
    INPUT,
    MAXPOOL3X3,
    NUM_EDGE_BITS,
    NUM_UNIQUE_CELLS,
    OUTPUT,
    ModelSpec,
    _cell_hash,
    hash_module,
    spec_problem,
)

SPACE = SPACES["nb101"]()


def table_spec(table, row) -> ModelSpec:
    n = int(table["num_vertices"][row])
    ops = [INPUT] + [CANONICAL_OPS[c] for c in table["ops"][row, 1 : n - 1]] + [OUTPUT]
    return ModelSpec(table["adjacency"][row, :n, :n], ops)


def random_rows(table, count, seed=0):
    return np.random.default_rng(seed).choice(len(table["hash"]), count, replace=False)


@pytest.mark.full_data("nb101")  # 2,532 cells of up to 5 vertices and 3,000 random rows: the whole table
def test_hash_spec_matches_official_table_hashes(nb101_npz):
    """Every cell of up to 5 vertices and 3,000 random larger ones re-hash to their table key (the whole
    table: tools/check_nb101_hashes.py); a second pass answers from the cache, with the same keys."""
    small = np.flatnonzero(nb101_npz["num_vertices"] <= 5)
    rows = np.r_[small, random_rows(nb101_npz, 3_000)]
    expected = [nb101_npz["hash"][r].decode() for r in rows]
    specs = [table_spec(nb101_npz, r) for r in rows]
    assert len(small) == 2532 and [spec.hash_spec() for spec in specs] == expected
    before = _cell_hash.cache_info().hits
    assert [spec.hash_spec() for spec in specs] == expected
    assert _cell_hash.cache_info().hits - before >= len(specs) - _cell_hash.cache_info().maxsize


def test_the_hash_cache_keys_on_the_exact_form_of_the_cell():
    """Cells equal up to dtype hash equal; cells with the same matrix bytes but other ops or sizes do not."""
    matrix = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    ops = [INPUT, CONV3X3, MAXPOOL3X3, OUTPUT]
    hashes = {ModelSpec(matrix.astype(dtype), ops).hash_spec() for dtype in (np.int64, np.int8, np.uint8, bool)}
    assert hashes == {hash_module(matrix, [-1, 0, 2, -2])}
    assert ModelSpec(matrix, [INPUT, CONV3X3, CONV1X1, OUTPUT]).hash_spec() not in hashes
    assert ModelSpec(matrix.astype(object), ops).hash_spec() in hashes  # no bytes key: hashed without the cache


def random_topological_order(matrix, rng) -> list[int]:
    """A random vertex order in which every edge still points forward (randomised Kahn)."""
    n = matrix.shape[0]
    indegree = matrix.sum(axis=0).astype(int)
    order, ready = [], [v for v in range(n) if indegree[v] == 0]
    while ready:
        v = ready.pop(int(rng.integers(len(ready))))
        order.append(v)
        for w in np.flatnonzero(matrix[v]):
            indegree[w] -= 1
            if indegree[w] == 0:
                ready.append(int(w))
    return order


def test_isomorphic_permutations_hash_equal(nb101_npz):
    rng = np.random.default_rng(1)
    changed = 0
    for row in random_rows(nb101_npz, 40, seed=2):
        spec = table_spec(nb101_npz, row)
        perm = random_topological_order(spec.matrix, rng)
        changed += perm != sorted(perm)
        relabelled = ModelSpec(spec.matrix[np.ix_(perm, perm)], [spec.ops[p] for p in perm])
        assert relabelled.hash_spec() == spec.hash_spec()
    assert changed > 10  # the check really exercised non-trivial relabellings


def test_different_ops_hash_differently():
    matrix = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert ModelSpec(matrix, [INPUT, CONV3X3, OUTPUT]).hash_spec() != ModelSpec(
        matrix, [INPUT, CONV1X1, OUTPUT]
    ).hash_spec()


def test_pruning_removes_vertices_off_every_input_output_path():
    matrix = np.zeros((7, 7), dtype=int)
    matrix[0, 1] = matrix[1, 6] = 1  # the only path
    matrix[0, 2] = 1  # dead end: 2 never reaches the output
    matrix[3, 6] = 1  # 3 is never reached from the input
    spec = ModelSpec(matrix, [INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT])
    assert spec.valid_spec
    assert spec.ops == [INPUT, CONV3X3, OUTPUT]
    assert spec.matrix.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert spec.original_ops[2] == CONV1X1 and spec.original_matrix.shape == (7, 7)


def test_disconnected_spec_is_invalid_and_not_hashable():
    matrix = np.zeros((3, 3), dtype=int)
    matrix[0, 1] = 1
    spec = ModelSpec(matrix, [INPUT, CONV3X3, OUTPUT])
    assert not spec.valid_spec and spec.matrix is None
    assert spec_problem(spec) == "input does not reach output"
    with pytest.raises(ValueError):
        spec.hash_spec()


@pytest.mark.parametrize(
    "matrix, ops, message",
    [
        (np.zeros((2, 3)), [INPUT, OUTPUT], "square"),
        (np.zeros((3, 3)), [INPUT, OUTPUT], "length of ops"),
        (np.tril(np.ones((3, 3))), [INPUT, CONV3X3, OUTPUT], "upper triangular"),
    ],
)
def test_modelspec_rejects_malformed_matrices(matrix, ops, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec(matrix, ops)


def test_spec_problem_names_each_official_rule():
    chain8 = np.eye(8, k=1, dtype=int)
    assert "8 vertices" in spec_problem(ModelSpec(chain8, [INPUT] + [CONV3X3] * 6 + [OUTPUT]))
    dense = np.triu(np.ones((7, 7), dtype=int), k=1)
    assert "edges" in spec_problem(ModelSpec(dense, [INPUT] + [CONV3X3] * 5 + [OUTPUT]))
    chain = np.eye(3, k=1, dtype=int)
    assert "unknown op" in spec_problem(ModelSpec(chain, [INPUT, "conv5x5", OUTPUT]))
    assert "first op" in spec_problem(ModelSpec(chain, [CONV3X3, CONV3X3, OUTPUT]))
    assert "last op" in spec_problem(ModelSpec(chain, [INPUT, CONV3X3, CONV3X3]))


def test_encode_decode_preserves_the_official_hash(nb101_npz):
    for row in random_rows(nb101_npz, 200, seed=3):
        arch = SPACE.encode(table_spec(nb101_npz, row))
        assert SPACE.key(arch) == nb101_npz["hash"][row].decode()


def test_small_cells_encode_with_spare_vertices_unconnected(nb101_npz):
    row = int(np.flatnonzero(nb101_npz["num_vertices"] == 3)[0])
    arch = SPACE.encode(table_spec(nb101_npz, row))
    matrix = SPACE.decode(arch).original_matrix
    assert matrix[2:6].sum() == 0 and matrix[:, 2:6].sum() == 0


archs = st.integers(0, 2**32 - 1).map(lambda seed: SPACE.sample(np.random.default_rng(seed)))


@settings(max_examples=60, deadline=None)
@given(archs)
def test_samples_keep_the_top_nine_edges(arch):  # validity and text round trip: tests/spaces/test_contract.py
    assert sum(arch[:NUM_EDGE_BITS]) == 9  # the paper's sampler always keeps the top 9 edges


def test_mutation_changes_the_cell_and_keeps_edge_count():
    rng = np.random.default_rng(5)
    for _ in range(100):
        a = SPACE.sample(rng)
        child = SPACE.mutate(a, rng)
        assert child != a and sum(child[:NUM_EDGE_BITS]) == sum(a[:NUM_EDGE_BITS])


@pytest.mark.parametrize(
    "arch, message",
    [
        ((0,) * 25, "25 positions"),
        ((1,) * 26, "edges, at most 9"),
        ((0,) * 21 + (0,) * 5, "does not reach"),
        ((2,) + (0,) * 25, "out of range"),
        ((0,) * 21 + (0, 0, 3, 0, 0), "out of range"),
        (("x",) * 26, "sequence of ints"),
    ],
)
def test_validate_rejects_malformed_encodings(arch, message):
    with pytest.raises(InvalidArchitecture, match=message):
        SPACE.validate(arch)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "expected"),
        ("garbage", "expected"),
        ("ops=conv3x3,conv3x3 edges=0-6", "2 ops"),
        ("ops=conv3x3,conv3x3,conv5x5,conv3x3,conv3x3 edges=0-6", "unknown op 'conv5x5'"),
        ("ops=conv3x3,conv3x3,conv3x3,conv3x3,conv3x3 edges=6-0", "bad edge"),
        ("ops=conv3x3,conv3x3,conv3x3,conv3x3,conv3x3 edges=0-1", "does not reach"),
    ],
)
def test_from_str_rejects_garbage(text, message):
    with pytest.raises(InvalidArchitecture, match=message):
        SPACE.from_str(text)


def test_encode_rejects_specs_outside_the_space():
    dense = np.triu(np.ones((7, 7), dtype=int), k=1)
    with pytest.raises(InvalidArchitecture, match="edges"):
        SPACE.encode(ModelSpec(dense, [INPUT] + [CONV3X3] * 5 + [OUTPUT]))


def test_uniform_sampling_over_table_cells_is_uniform_in_ops(nb101_npz_path, nb101_npz):
    """Uniform over distinct cells must reproduce the table's op frequencies (chi-square-level check)."""
    space = SPACES["nb101"](table=str(nb101_npz_path))
    rng = np.random.default_rng(7)
    draws = [space.sample_uniform(rng) for _ in range(3000)]
    counts = np.zeros(3)
    for arch in draws:
        for op in space.decode(arch).ops[1:-1]:
            counts[CANONICAL_OPS.index(op)] += 1
    table_ops = nb101_npz["ops"]
    expected = np.array([(table_ops == c).sum() for c in range(3)], dtype=float)
    expected *= counts.sum() / expected.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 13.8  # p = 0.001 for 2 degrees of freedom


def test_uniform_sampling_over_encodings_gives_each_op_a_third():
    rng = np.random.default_rng(8)
    ops = np.array([SPACE.sample_uniform(rng)[NUM_EDGE_BITS:] for _ in range(3000)]).ravel()
    freq = np.bincount(ops, minlength=3) / ops.size
    assert np.all(np.abs(freq - 1 / 3) < 0.02)


@pytest.mark.full_data("nb101")  # the vertex counts of all 423,624 cells
def test_the_distinct_cells_per_vertex_count_are_the_tables(nb101_npz):
    vertices, cells = np.unique(nb101_npz["num_vertices"], return_counts=True)
    assert dict(zip(vertices.tolist(), cells.tolist())) == CELLS_BY_VERTICES
    assert sum(CELLS_BY_VERTICES.values()) == NUM_UNIQUE_CELLS


def _pruned_shape(space, draws):
    """Vertex counts, mean edge count and input->output edge share of the pruned cells drawn."""
    specs = [space.decode(arch) for arch in draws]
    vertices = np.array([spec.matrix.shape[0] for spec in specs])
    return vertices, np.mean([spec.matrix.sum() for spec in specs]), np.mean([spec.matrix[0, -1] for spec in specs])


def test_distinct_cell_draws_look_like_the_tables_cells_and_encoding_draws_do_not():
    """Shares of 7-vertex cells and mean edges of the table's distinct cells: 84.8 % and 8.73 (seed-0 draws from
    the table, test_uniform_draws_over_table_cells_prune_to_its_shape checks them against the table itself)."""
    rng = np.random.default_rng(3)
    distinct = SPACES["nb101"](uniform_draws="distinct-cells")
    vertices, edges, io = _pruned_shape(distinct, [distinct.sample_uniform(rng) for _ in range(2000)])
    assert abs(np.mean(vertices == 7) - 359082 / NUM_UNIQUE_CELLS) < 0.03 and abs(edges - 8.73) < 0.15
    assert abs(io - 0.19) < 0.03
    vertices, edges, _ = _pruned_shape(SPACE, [SPACE.sample_uniform(rng) for _ in range(2000)])
    assert np.mean(vertices == 7) < 0.03 and edges < 4.5  # edge sets mostly prune to a few vertices


def test_distinct_cell_draws_are_valid_pruned_and_repeatable():
    space = SPACES["nb101"](uniform_draws="distinct-cells")
    draws = [space.sample_uniform(rng) for rng in [np.random.default_rng(5)] for _ in range(300)]
    assert draws[:5] == [space.sample_uniform(rng) for rng in [np.random.default_rng(5)] for _ in range(5)]
    assert all(space.is_valid(arch) for arch in draws)
    for arch in draws:  # drawn already pruned: the encoding is the pruned cell's own
        assert space.encode(space.decode(arch)) == arch
    with pytest.raises(ValueError, match="uniform_draws must be one of encodings, distinct-cells"):
        SPACES["nb101"](uniform_draws="cells")


def test_uniform_draws_over_table_cells_prune_to_its_shape(nb101_npz_path, nb101_npz):
    space = SPACES["nb101"](table=str(nb101_npz_path))
    rng = np.random.default_rng(4)
    vertices, edges, _ = _pruned_shape(space, [space.sample_uniform(rng) for _ in range(2000)])
    table_edges = nb101_npz["adjacency"].sum(axis=(1, 2)).mean()
    assert abs(edges - table_edges) < 0.15
    assert abs(np.mean(vertices == 7) - np.mean(nb101_npz["num_vertices"] == 7)) < 0.03


def test_sample_from_probs_follows_decoded_edges_and_stays_valid():
    rng = np.random.default_rng(9)
    favoured = [0, 1, 2, 3, 4, 5, 11, 15, 20]  # all out of vertex 0, plus a few into the output

    def edge_probs(p_favoured):
        return [np.array([1 - p_favoured, p_favoured]) if i in favoured else np.array([p_favoured, 1 - p_favoured])
                for i in range(NUM_EDGE_BITS)]

    certain = SPACE.sample_from_probs(edge_probs(0.9999) + [np.array([0.0, 0.0, 1.0])] * 5, rng)
    assert [i for i in range(NUM_EDGE_BITS) if certain[i]] == favoured and certain[NUM_EDGE_BITS:] == (2,) * 5
    # Uncertain probabilities give a spread of cells that still follows them.
    draws = np.array([SPACE.sample_from_probs(edge_probs(0.8) + [np.ones(3) / 3] * 5, rng) for _ in range(400)])
    on_rate = draws[:, :NUM_EDGE_BITS].mean(axis=0)
    assert on_rate[favoured].min() > 0.6 and np.delete(on_rate, favoured).max() < 0.4
    assert len({tuple(d) for d in draws}) > 100
    # edges that cannot connect: redraws must still produce a valid cell
    hopeless = [np.array([0.01, 0.99]) if i in (0, 1, 2, 3, 4) else np.array([0.99, 0.01])
                for i in range(NUM_EDGE_BITS)] + [np.ones(3) / 3] * 5
    for _ in range(20):
        assert SPACE.is_valid(SPACE.sample_from_probs(hopeless, rng))


@pytest.mark.full_data("nb101")  # the space's size is the whole table's cell count
def test_size_matches_the_tables_unique_cells(nb101_npz):
    assert SPACE.size() == (len(np.unique(nb101_npz["hash"])), True)


def test_describe_shows_the_pruned_cell_and_flags_cells_without_an_operation():
    space = SPACE
    degenerate = space.from_str("ops=conv1x1,maxpool3x3,conv3x3,conv3x3,conv3x3 edges=0-1,0-6,1-2,2-3")
    assert space.is_degenerate(degenerate)
    assert space.describe(degenerate).endswith("[pruned: input->output, no operation]")
    pruned = space.from_str("ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,1-6")
    assert not space.is_degenerate(pruned)
    assert space.describe(pruned).endswith("[pruned: 3 vertices, ops=conv3x3 edges=0-1,1-2]")
    chain = space.from_str("ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,1-2,2-3,3-4,4-5,5-6")
    assert space.describe(chain) == space.to_str(chain)  # nothing pruned, nothing added


def test_operation_count_is_the_pruned_cells_interior_vertices():
    chain = SPACE.from_str("ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,1-2,2-3,3-4,4-5,5-6")
    assert SPACE.operation_count(chain) == 5
    pruned = SPACE.from_str("ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,1-6")
    assert SPACE.operation_count(pruned) == 1  # the unreachable vertices compute nothing
    degenerate = SPACE.from_str("ops=conv1x1,maxpool3x3,conv3x3,conv3x3,conv3x3 edges=0-1,0-6,1-2,2-3")
    assert SPACE.operation_count(degenerate) == 0
