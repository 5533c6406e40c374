"""CellIndex finds a table row by any forward vertex order of its cell, the row its official hash names."""

import numpy as np
import pytest

from samplenas.benchmarks.nasbench101_index import CellIndex, form_keys, random_forward_order
from samplenas.benchmarks.nasbench101_records import op_names
from samplenas.errors import UserError
from samplenas.spaces.nasbench101 import ModelSpec


@pytest.fixture(scope="module")
def index(nb101_npz):
    return CellIndex(nb101_npz["adjacency"], nb101_npz["ops"], nb101_npz["num_vertices"], nb101_npz["hash"])


def stored_cell(npz, row):
    n = int(npz["num_vertices"][row])
    return npz["adjacency"][row, :n, :n], op_names(npz["ops"][row], n)



def test_every_sampled_cell_in_any_forward_order_finds_the_row_of_its_hash(index, nb101_npz, rng):
    rows = rng.choice(len(nb101_npz["hash"]), min(2000, len(nb101_npz["hash"])), replace=False)
    moved = 0
    for row in rows:
        matrix, ops = stored_cell(nb101_npz, row)
        order = random_forward_order(matrix, rng)
        other = ModelSpec(matrix[np.ix_(order, order)], [ops[v] for v in order])
        moved += not np.array_equal(other.matrix, matrix)
        assert index.row(matrix, ops) == row
        assert index.row(other.matrix, other.ops) == row
        assert other.hash_spec() == nb101_npz["hash"][row].decode()
    assert moved > len(rows) // 4  # the orders really differ from the stored ones


def test_a_cell_the_table_lacks_is_not_found():
    adjacency = np.zeros((1, 7, 7), np.uint8)
    adjacency[0, 0, 1] = adjacency[0, 1, 2] = 1
    ops = np.array([[-1, 0, -2, -3, -3, -3, -3]], np.int8)
    index = CellIndex(adjacency, ops, np.array([3]), np.array([b"0" * 32]))
    line = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert index.row(line, ["input", "conv3x3-bn-relu", "output"]) == 0
    assert index.row(line, ["input", "conv1x1-bn-relu", "output"]) is None
    assert index.row(np.array([[0, 1], [0, 0]]), ["input", "output"]) is None


def test_rows_that_are_not_forward_cells_never_match():
    adjacency = np.zeros((3, 7, 7), np.uint8)
    adjacency[:, 0, 1] = adjacency[:, 1, 2] = 1
    adjacency[1, 2, 0] = 1  # an edge pointing backward
    ops = np.tile(np.array([-1, 0, -2, -3, -3, -3, -3], np.int8), (3, 1))
    ops[2, 0] = 0  # the first vertex is not the input
    assert form_keys(adjacency, ops, np.array([3, 3, 3])).tolist()[1:] == [-1, -1]


def test_a_cell_stored_twice_is_a_user_error_naming_both_hashes():
    adjacency = np.zeros((2, 7, 7), np.uint8)
    adjacency[:, 0, 1] = 1
    ops = np.tile(np.array([-1, -2, -3, -3, -3, -3, -3], np.int8), (2, 1))
    with pytest.raises(UserError, match="a" * 32 + " and " + "b" * 32):
        CellIndex(adjacency, ops, np.array([2, 2]), np.array([b"a" * 32, b"b" * 32]))
