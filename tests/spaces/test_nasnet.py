"""NASNet/DARTS-like cell space: encoding, validity, variation operators, text and DARTS codecs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samplenas.errors import UserError
from samplenas.spaces import SPACES, InvalidArchitecture
from samplenas.spaces.nasnet import (
    DARTS_V2,
    EDGES,
    EDGES_PER_CELL,
    NODES,
    OP_NAMES,
    OP_SETS,
    PDARTS,
    PUBLISHED,
    NASNetSpace,
    node_positions,
)

SPACE = NASNetSpace()
seeds = st.integers(0, 2**32 - 1)


def arch_from_seed(seed: int) -> tuple[int, ...]:
    return SPACE.sample(np.random.default_rng(seed))


def all_valid_cells_for_small_alphabet(ops: int) -> int:
    """Brute-force count of one cell's valid assignments when each edge has `ops` choices."""
    count = 0
    for node in NODES:
        per_node = sum(1 for group in itertools.product(range(ops), repeat=node) if any(group))
        count = per_node if count == 0 else count * per_node
    return count


def test_registered_and_dims():
    space = SPACES["nasnet"]()
    assert isinstance(space, NASNetSpace)
    assert space.dims == (8,) * 28
    assert EDGES[:5] == ((0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert EDGES[-1] == (4, 5)
    assert [list(node_positions(n)) for n in NODES] == [[0, 1], [2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12, 13]]
    assert SPACE.position_names()[0] == "normal.node2<-0"
    assert SPACE.position_names()[27] == "reduce.node5<-4"
    assert SPACE.choice_names(3) == list(OP_NAMES)


def test_size_is_exact_product_over_nodes():
    size, exact = SPACE.size()
    assert exact
    per_cell = (8**2 - 1) * (8**3 - 1) * (8**4 - 1) * (8**5 - 1)
    assert size == per_cell**2
    assert size < 8**28
    # the formula "8^k - 1 per node" agrees with brute force on a 3-op alphabet
    assert all_valid_cells_for_small_alphabet(3) == (3**2 - 1) * (3**3 - 1) * (3**4 - 1) * (3**5 - 1)


@given(seeds)
def test_mutation_changes_exactly_one_edge(seed):  # validity of draws and children: tests/spaces/test_contract.py
    rng = np.random.default_rng(seed)
    arch = SPACE.sample(rng)
    assert sum(x != y for x, y in zip(arch, SPACE.mutate(arch, rng))) == 1


@given(seeds)
def test_mutate_keeps_a_node_whose_only_input_is_mutated_valid(seed):
    rng = np.random.default_rng(seed)
    # every node has exactly one input: any mutation to 'none' there would break validity
    sparse = [0] * 28
    for cell in (0, EDGES_PER_CELL):
        for node in NODES:
            sparse[cell + node_positions(node)[0]] = 4
    arch = tuple(sparse)
    for _ in range(20):
        arch = SPACE.mutate(arch, rng)
        assert SPACE.is_valid(arch)


def test_crossover_exchanges_whole_node_groups():
    rng = np.random.default_rng(3)
    a, b = (1,) * 28, (2,) * 28
    children = [SPACE.crossover(a, b, rng) for _ in range(50)]
    for child in children:
        for cell in (0, EDGES_PER_CELL):
            for node in NODES:
                group = {child[cell + p] for p in node_positions(node)}
                assert len(group) == 1
    assert len(set(children)) > 1


def test_sample_is_uniform_over_a_node_group():
    # node 2 has 63 valid assignments; their frequencies should be flat (chi-square, fixed seed)
    rng = np.random.default_rng(0)
    counts: dict[tuple[int, int], int] = {}
    n = 6300
    for _ in range(n):
        arch = SPACE.sample(rng)
        counts[arch[:2]] = counts.get(arch[:2], 0) + 1
    assert (0, 0) not in counts
    assert len(counts) == 63
    expected = n / 63
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 100  # 62 degrees of freedom: p(chi2 > 100) ~ 0.002


def test_to_str_reads_like_a_genotype():
    arch = SPACE.from_genotype(*DARTS_V2)
    text = SPACE.to_str(arch)
    assert text.startswith("normal: node2=sep_conv_3x3<-0+sep_conv_3x3<-1; node3=")
    assert "| reduce: node2=max_pool_3x3<-0+max_pool_3x3<-1;" in text
    spaced = text.replace("+", " + ").replace("=", " = ")
    assert SPACE.from_str(spaced) == arch


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ((1,) * 27, "27 positions, expected 28"),
        ((1,) * 29, "29 positions, expected 28"),
        ((1,) * 27 + (8,), "out of range 0..7"),
        ((1,) * 27 + (-1,), "out of range 0..7"),
        ((0, 0) + (1,) * 26, "normal cell node 2 has no input"),
        ((1,) * 23 + (0,) * 5, "reduce cell node 5 has no input"),
        ("abc", "sequence of ints"),
    ],
)
def test_validate_rejects_with_reason(arch, message):
    with pytest.raises(InvalidArchitecture, match=message):
        SPACE.validate(arch)
    assert not SPACE.is_valid(arch)


@given(st.lists(st.integers(0, 7), min_size=28, max_size=28))
def test_validate_agrees_with_the_node_rule(values):
    cells = (values[:EDGES_PER_CELL], values[EDGES_PER_CELL:])
    expected = all(any(cell[p] for p in node_positions(node)) for cell in cells for node in NODES)
    assert SPACE.is_valid(values) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "two cells separated by"),
        ("hello world", "two cells separated by"),
        ("normal: node2=sep_conv_3x3<-0 | reduce: x | extra", "two cells separated by"),
        ("reduce: node2=skip_connect<-0 | normal: node2=skip_connect<-0", "expected the 'normal' cell"),
        ("normal: node2=conv_9x9<-0 | reduce: node2=skip_connect<-0", "unknown op 'conv_9x9'"),
        ("normal: node2=none<-0 | reduce: node2=skip_connect<-0", "unknown op 'none'"),
        ("normal: node2=skip_connect<-2 | reduce: node2=skip_connect<-0", "input 2 out of range 0..1"),
        ("normal: node2=skip_connect<-0+max_pool_3x3<-0 | reduce: x", "two edges from node 0"),
        ("normal: node7=skip_connect<-0 | reduce: node2=skip_connect<-0", "node7 is unknown"),
        ("normal: node2=skip_connect<-0; node2=skip_connect<-1 | reduce: x", "repeated"),
        ("normal: node2=skip_connect<-0 | reduce: node2=skip_connect<-0", "missing node3, node4, node5"),
        ("normal: node2= | reduce: node2=skip_connect<-0", "cannot read node"),
        ("normal: node2=skip_connect | reduce: node2=skip_connect<-0", "cannot read 'skip_connect'"),
    ],
)
def test_from_str_rejects_garbage_with_reason(text, message):
    with pytest.raises(InvalidArchitecture, match=message):
        SPACE.from_str(text)


@given(st.text(max_size=60))
def test_from_str_never_crashes_on_random_text(text):
    try:
        arch = SPACE.from_str(text)
    except InvalidArchitecture:
        return
    assert SPACE.is_valid(arch)


def test_darts_v2_genotype_encoding():
    arch = SPACE.from_genotype(*DARTS_V2)
    normal, reduce = arch[:EDGES_PER_CELL], arch[EDGES_PER_CELL:]
    sep, skip, dil, maxp = (OP_NAMES.index(n) for n in ("sep_conv_3x3", "skip_connect", "dil_conv_3x3", "max_pool_3x3"))
    # normal: node2 <- sep(0)+sep(1); node3 <- sep(0)+sep(1); node4 <- sep(1)+skip(0); node5 <- skip(0)+dil(2)
    assert normal == (sep, sep, sep, sep, 0, skip, sep, 0, 0, skip, 0, dil, 0, 0)
    # reduce: node2 <- max(0)+max(1); node3 <- skip(2)+max(1); node4 <- max(0)+skip(2); node5 <- skip(2)+max(1)
    assert reduce == (maxp, maxp, 0, maxp, skip, maxp, 0, skip, 0, 0, maxp, skip, 0, 0)


def test_genotype_round_trip_up_to_order_within_a_node():
    arch = SPACE.from_genotype(*DARTS_V2)
    genotype = SPACE.to_genotype(arch)
    for mine, theirs in zip(genotype, DARTS_V2):
        for i in range(0, 8, 2):
            assert sorted(mine[i : i + 2], key=lambda p: p[1]) == sorted(theirs[i : i + 2], key=lambda p: p[1])
    assert SPACE.from_genotype(*genotype) == arch


@given(seeds)
def test_two_input_archs_round_trip_through_genotypes(seed):
    rng = np.random.default_rng(seed)
    values = [0] * 28
    for cell in (0, EDGES_PER_CELL):
        for node in NODES:
            for src in rng.choice(node, size=2, replace=False):
                values[cell + node_positions(node)[src]] = int(rng.integers(1, 8))
    arch = tuple(values)
    assert SPACE.from_genotype(*SPACE.to_genotype(arch)) == arch


def test_genotype_errors():
    normal, reduce = list(DARTS_V2.normal), list(DARTS_V2.reduce)
    with pytest.raises(InvalidArchitecture, match="unknown op 'dil_conv_5x5'"):
        SPACE.from_genotype([("dil_conv_5x5", 0)] + normal[1:], reduce)
    with pytest.raises(InvalidArchitecture, match="two edges from node 0"):
        SPACE.from_genotype([("sep_conv_3x3", 0), ("skip_connect", 0)] + normal[2:], reduce)
    with pytest.raises(InvalidArchitecture, match="input 3 out of range 0..2"):
        SPACE.from_genotype(normal[:2] + [("sep_conv_3x3", 3)] + normal[3:], reduce)
    with pytest.raises(InvalidArchitecture, match="7 entries, expected 8"):
        SPACE.from_genotype(normal[:7], reduce)
    with pytest.raises(InvalidArchitecture, match="is not \\(op, input\\)"):
        SPACE.from_genotype(normal[:7] + ["sep_conv_3x3"], reduce)
    with pytest.raises(InvalidArchitecture, match="normal cell node 3 has 3 inputs"):
        SPACE.to_genotype((1,) * 28)
    one_input = list(SPACE.from_genotype(normal, reduce))
    one_input[EDGES_PER_CELL + node_positions(5)[1]] = 0  # reduce node5 keeps only skip(2)
    with pytest.raises(InvalidArchitecture, match="reduce cell node 5 has 1 inputs; a DARTS genotype needs exactly 2"):
        SPACE.to_genotype(one_input)


def relabel_cell(cell, order):
    """Renumber nodes 2..5 of one cell: old node order[k] becomes node NODES[k]."""
    mapping = {0: 0, 1: 1, **{old: new for new, old in zip(NODES, order)}}
    moved = {(mapping[s], mapping[d]): op for (s, d), op in zip(EDGES, cell) if op}
    return [moved.get(edge, 0) for edge in EDGES]


@given(seeds, st.permutations(NODES), st.permutations(NODES))
def test_key_merges_forward_preserving_node_relabellings(seed, normal_order, reduce_order):
    arch = arch_from_seed(seed)
    cells = [list(arch[:EDGES_PER_CELL]), list(arch[EDGES_PER_CELL:])]
    relabelled = []
    for cell, order in zip(cells, (normal_order, reduce_order)):
        mapping = {old: new for new, old in zip(NODES, order)}
        forward = all(mapping.get(s, s) < mapping[d] for (s, d), op in zip(EDGES, cell) if op)
        relabelled.append(relabel_cell(cell, order) if forward else cell)
    other = tuple(relabelled[0] + relabelled[1])
    assert SPACE.is_valid(other)
    assert SPACE.key(other) == SPACE.key(arch)


def test_key_separates_different_cells_and_canonicalises_a_known_pair():
    sep, skip = OP_NAMES.index("sep_conv_3x3"), OP_NAMES.index("skip_connect")
    # node2 <- sep(0), node3 <- skip(1) (no edge 2->3) versus the two nodes swapped
    base = [0] * 14
    for node in (4, 5):
        base[node_positions(node)[0]] = sep
    a = list(base)
    a[node_positions(2)[0]], a[node_positions(3)[1]] = sep, skip
    b = list(base)
    b[node_positions(2)[1]], b[node_positions(3)[0]] = skip, sep
    reduce = [skip] * 14
    assert SPACE.key(tuple(a + reduce)) == SPACE.key(tuple(b + reduce))
    # with an edge 2->3 the swap would reverse it: not equivalent
    a_linked = list(a)
    a_linked[node_positions(3)[2]] = skip
    b_linked = list(b)
    b_linked[node_positions(3)[2]] = skip
    assert SPACE.key(tuple(a_linked + reduce)) != SPACE.key(tuple(b_linked + reduce))
    # normal and reduction cells are not interchangeable
    assert SPACE.key(tuple(a + reduce)) != SPACE.key(tuple(reduce + a))


@settings(max_examples=50)
@given(seeds)
def test_key_is_a_valid_encoding_of_the_same_size(seed):
    arch = arch_from_seed(seed)
    canonical = tuple(int(v) for v in SPACE.key(arch).split(","))
    assert SPACE.is_valid(canonical)
    assert sorted(canonical) == sorted(arch)
    assert SPACE.key(canonical) == SPACE.key(arch)


# --- op sets -----------------------------------------------------------------------------------
DARTS_SPACE = NASNetSpace(ops="darts")


def test_op_sets_differ_exactly_by_the_fifth_kernel():
    vaenas, darts = SPACES["nasnet"]().choice_names(0), SPACES["nasnet"](ops="darts").choice_names(0)
    assert vaenas == list(OP_NAMES) == list(OP_SETS["vaenas"])
    # quark0/darts PRIMITIVES, in their order, so a choice index is a DARTS alpha column
    assert darts == ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                     "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
    assert set(vaenas) - set(darts) == {"sep_conv_7x7"} and set(darts) - set(vaenas) == {"dil_conv_5x5"}
    assert DARTS_SPACE.dims == SPACE.dims == (8,) * 28
    assert DARTS_SPACE.size() == SPACE.size()


def test_unknown_op_set_is_a_user_error():
    with pytest.raises(UserError, match="unknown op set 'nasnet'; valid: darts, vaenas"):
        NASNetSpace(ops="nasnet")


@given(seeds)
@settings(max_examples=25)
def test_darts_set_sample_mutate_crossover_and_text(seed):
    rng = np.random.default_rng(seed)
    a, b = DARTS_SPACE.sample(rng), DARTS_SPACE.sample(rng)
    for arch in (a, DARTS_SPACE.mutate(a, rng), DARTS_SPACE.crossover(a, b, rng)):
        assert DARTS_SPACE.is_valid(arch)
        assert DARTS_SPACE.from_str(DARTS_SPACE.to_str(arch)) == arch
        assert "sep_conv_7x7" not in DARTS_SPACE.to_str(arch)


def same_up_to_order_within_nodes(mine, theirs) -> bool:
    return all(
        sorted(mine[i : i + 2], key=lambda p: p[1]) == sorted(theirs[i : i + 2], key=lambda p: p[1])
        for i in range(0, 8, 2)
    )


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_genotypes_round_trip_in_the_darts_set(name):
    genotype, needs = PUBLISHED[name]
    arch = DARTS_SPACE.from_genotype(*genotype)
    back = DARTS_SPACE.to_genotype(arch)
    assert same_up_to_order_within_nodes(back.normal, genotype.normal)
    assert same_up_to_order_within_nodes(back.reduce, genotype.reduce)
    assert DARTS_SPACE.from_str(DARTS_SPACE.to_str(arch)) == arch
    assert DARTS_SPACE.parse(",".join(map(str, arch))) == arch
    uses_dil5 = any(op == "dil_conv_5x5" for op, _ in genotype.normal + genotype.reduce)
    assert uses_dil5 == (needs == "darts")
    if uses_dil5:  # the default set refuses it and says which set has the op
        with pytest.raises(InvalidArchitecture, match="'dil_conv_5x5' is in the 'darts' op set: use ops='darts'"):
            SPACE.from_genotype(*genotype)
        with pytest.raises(InvalidArchitecture, match="unknown op 'dil_conv_5x5' in op set 'vaenas'"):
            SPACE.from_str(DARTS_SPACE.to_str(arch))
    else:  # DARTS_V2 reads the same in both sets
        assert SPACE.to_str(SPACE.from_genotype(*genotype)) == DARTS_SPACE.to_str(arch)


def test_pdarts_encoding_in_darts_indices():
    arch = DARTS_SPACE.from_genotype(*PDARTS)
    normal = arch[:EDGES_PER_CELL]
    skip, sep3, dil3, dil5 = (OP_SETS["darts"].index(n) for n in
                              ("skip_connect", "sep_conv_3x3", "dil_conv_3x3", "dil_conv_5x5"))
    # node2 <- skip(0)+dil3(1); node3 <- skip(0)+sep3(1); node4 <- sep3(1)+sep3(3); node5 <- sep3(0)+dil5(4)
    assert normal == (skip, dil3, skip, sep3, 0, 0, sep3, 0, sep3, sep3, 0, 0, 0, dil5)


def test_sep_conv_7x7_is_not_in_the_darts_set():
    text = "normal: node2=sep_conv_7x7<-0; node3=skip_connect<-0; node4=skip_connect<-0; node5=skip_connect<-0"
    text += " | reduce: node2=max_pool_3x3<-0; node3=max_pool_3x3<-0; node4=max_pool_3x3<-0; node5=max_pool_3x3<-0"
    assert SPACE.is_valid(SPACE.from_str(text))
    with pytest.raises(InvalidArchitecture, match="'sep_conv_7x7' is in the 'vaenas' op set"):
        DARTS_SPACE.from_str(text)


def test_operation_count_counts_the_edges_that_are_not_none():
    assert SPACE.operation_count(SPACE.from_genotype(*DARTS_V2)) == 16  # two inputs per node, 4 nodes, 2 cells
