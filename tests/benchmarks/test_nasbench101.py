"""NASBench101 against the npz table and the official-layout sample (full or fixture cuts): identity, metrics,
errors, budgets."""

import math

import numpy as np
import pytest

from samplenas.benchmarks.nasbench101 import MissingTrainingTimeWarning, NASBench101, OutOfDomainError, UnknownHashError
from samplenas.benchmarks.nasbench101_convert import Table, convert, write_table
from samplenas.benchmarks.nasbench101_records import METRIC_COLUMNS, METRICS, op_names, parse_record
from samplenas.benchmarks.tfrecord import iter_records
from samplenas.errors import UserError
from samplenas.spaces import SPACES
from samplenas.spaces.nasbench101 import ModelSpec


@pytest.fixture(scope="session")
def full_table(nb101_npz_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("nb101") / "full.h5"
    convert(nb101_npz_path, path, progress=False)
    return path


@pytest.fixture(scope="session")
def sample_table(nb101_tfrecord_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("nb101") / "sample.h5"
    convert(nb101_tfrecord_path, path, progress=False)
    return path


@pytest.fixture(scope="session")
def repeats_table(tmp_path_factory):
    """Two cells, budgets 12 and 108, three runs at 108 with distinct values, halfway data present."""
    cells = [spec_of(np.array([[0, 1], [0, 0]]), [-1, -2]),
             spec_of(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]), [-1, 0, -2])]
    hashes = [spec.hash_spec() for spec in cells]
    n, shape = 2, (2, 2, 3)
    adjacency = np.zeros((n, 7, 7), np.uint8)
    ops = np.full((n, 7), -3, np.int8)
    for i, spec in enumerate(cells):
        k = len(spec.ops)
        adjacency[i, :k, :k] = spec.matrix
        ops[i, :k] = [-1] + [0] * (k - 2) + [-2]
    metrics = {name: np.full(shape, np.nan) for name in METRIC_COLUMNS}
    for j, name in enumerate(METRIC_COLUMNS):
        metrics[name][:, 1, :] = 0.5 + 0.01 * j + 0.1 * np.arange(3)  # 108 epochs: runs 0.5, 0.6, 0.7 (+j)
        metrics[name][:, 0, 0] = 0.25  # 12 epochs: one run
    repeats = np.array([[1, 3], [1, 3]], np.uint8)
    table = Table(np.array(hashes, "S32"), np.array([2, 3], np.uint8), adjacency, ops, np.array([1000.0, np.nan]),
                  (12, 108), repeats, metrics)
    path = tmp_path_factory.mktemp("nb101") / "repeats.h5"
    write_table(table, path, source="synthetic")
    return path, cells


def spec_of(matrix, op_codes) -> ModelSpec:
    return ModelSpec(matrix, op_names(np.array(op_codes), len(op_codes)))


def npz_spec(npz, row) -> ModelSpec:
    n = int(npz["num_vertices"][row])
    return spec_of(npz["adjacency"][row][:n, :n], npz["ops"][row][:n])


def test_tfrecord_and_npz_conversions_agree_on_the_shared_cells(full_table, sample_table, nb101_sample_records):
    full, sample = NASBench101(full_table), NASBench101(sample_table)
    assert len(sample) == nb101_sample_records
    rows = full.lookup(sample.hashes())
    for metric in METRICS:
        assert np.array_equal(sample.values(metric), full.values(metric, rows), equal_nan=True), metric
    assert np.array_equal(sample.values("trainable_parameters"), full.values("trainable_parameters", rows))
    assert np.isfinite(sample.values("test_accuracy")).all()
    assert np.isnan(sample.values("train_accuracy")).all()  # unset in the file: missing, not 0


@pytest.mark.filterwarnings("ignore::samplenas.benchmarks.nasbench101.MissingTrainingTimeWarning")  # npz: few times
def test_every_npz_hash_is_found_and_a_sample_of_cells_by_spec(full_table, nb101_npz, full_data, rng):
    bench = NASBench101(full_table, seed=0)
    assert len(bench) == len(nb101_npz["hash"]) == (423624 if full_data else len(np.unique(nb101_npz["hash"])))
    rows = bench.lookup(nb101_npz["hash"])
    assert np.array_equal(bench.values("test_accuracy", rows), nb101_npz["test_acc_108_rep0"])
    assert np.array_equal(bench.values("flops_thop", rows), nb101_npz["flops_thop"])
    for row in rng.choice(len(rows), 200, replace=False):
        spec = npz_spec(nb101_npz, row)
        data = bench.query(spec)
        assert data["test_accuracy"] == nb101_npz["test_acc_108_rep0"][row]
        fixed, computed = bench.get_metrics_from_hash(nb101_npz["hash"][row].decode())
        assert computed[108][0]["final_test_accuracy"] == data["test_accuracy"]
        assert fixed["module_operations"] == spec.ops


def random_topological_relabelling(matrix, rng):
    """A vertex order, input first and output last, in which every edge still points forward."""
    n = len(matrix)
    order, placed = [0], {0}
    while len(order) < n - 1:
        ready = [v for v in range(1, n - 1)
                 if v not in placed and all(u in placed for u in np.flatnonzero(matrix[:, v]))]
        order.append(int(rng.choice(ready)))
        placed.add(order[-1])
    return order + [n - 1]


@pytest.mark.filterwarnings("ignore::samplenas.benchmarks.nasbench101.MissingTrainingTimeWarning")  # npz: few times
def test_isomorphic_relabelling_returns_the_same_row(full_table, nb101_npz, rng):
    bench = NASBench101(full_table)
    relabelled = 0
    for row in rng.choice(len(nb101_npz["hash"]), 60, replace=False):
        spec = npz_spec(nb101_npz, row)
        order = random_topological_relabelling(spec.matrix, rng)
        other = ModelSpec(spec.matrix[np.ix_(order, order)], [spec.ops[v] for v in order])
        relabelled += not np.array_equal(other.matrix, spec.matrix) or other.ops != spec.ops
        assert bench.hash_of(other) == bench.hash_of(spec)
        assert bench.query(other)["test_accuracy"] == bench.query(spec)["test_accuracy"]
        row_of_hash = bench.lookup([nb101_npz["hash"][row]])[0]
        assert bench.lookup_specs([other])[0] == bench.lookup_specs([spec])[0] == row_of_hash
    assert relabelled > 20


def test_flat_architectures_map_to_the_rows_of_their_cells(full_table, nb101_npz):
    bench = NASBench101(full_table)
    space = SPACES["nb101"]()
    rows = np.linspace(0, len(nb101_npz["hash"]) - 1, 11).astype(int)
    archs = [space.encode(npz_spec(nb101_npz, row)) for row in rows]
    assert bench.lookup_archs(archs).tolist() == rows.tolist()


@pytest.mark.parametrize("matrix, ops, problem", [
    ([[0, 0, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"], None),  # pruned to 2 vertices
    ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"], "does not reach"),
    ([[0, 1], [0, 0]], ["input", "input"], "last op"),
    ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "unknown op"),
])
def test_specs_outside_the_space_raise_out_of_domain(full_table, matrix, ops, problem):
    bench = NASBench101(full_table)
    spec = ModelSpec(np.array(matrix), ops)
    if problem is None:
        assert bench.is_valid(spec) and bench.query(spec)["module_operations"] == ["input", "output"]
        return
    assert not bench.is_valid(spec)
    with pytest.raises(OutOfDomainError, match=problem):
        bench.query(spec)
    assert bench.get_budget_counters() == (0.0, 0)


def test_too_many_edges_and_bad_budgets_and_unknown_hashes_raise(full_table, sample_table):
    bench = NASBench101(full_table)
    dense = np.triu(np.ones((7, 7), dtype=int), 1)
    spec = ModelSpec(dense, ["input"] + ["conv3x3-bn-relu"] * 5 + ["output"])
    with pytest.raises(OutOfDomainError, match="21 edges"):
        bench.query(spec)
    good = ModelSpec(np.array([[0, 1], [0, 0]]), ["input", "output"])
    with pytest.raises(OutOfDomainError, match="epochs"):
        bench.query(good, epochs=100)
    with pytest.raises(OutOfDomainError, match="epochs"):
        NASBench101(sample_table).query(good, epochs=12)
    with pytest.raises(OutOfDomainError, match="not in"):
        NASBench101(sample_table).query(good)  # inside the space, absent from the 1k sample
    with pytest.raises(OutOfDomainError, match="not in"):
        bench.lookup(["0" * 32])
    assert bench.get_budget_counters() == (0.0, 0)


def test_budget_counters_add_up_like_the_official_api(repeats_table):
    path, cells = repeats_table
    bench = NASBench101(path, seed=1)
    times, epochs = 0.0, 0
    for spec, budget, halfway in [(cells[0], 108, False), (cells[1], 108, True), (cells[1], 12, False)]:
        data = bench.query(spec, epochs=budget, stop_halfway=halfway)
        times += data["training_time"]
        epochs += budget // 2 if halfway else budget
        assert bench.get_budget_counters() == (pytest.approx(times), epochs)
    assert epochs == 108 + 54 + 12
    bench.reset_budget_counters()
    assert bench.get_budget_counters() == (0.0, 0)
    bench.get_metrics_from_spec(cells[0])
    bench.values("test_accuracy")
    assert bench.get_budget_counters() == (0.0, 0)  # analysis calls are free, as in the official API


def test_missing_training_time_makes_the_time_counter_missing_not_zero(full_table, nb101_npz):
    bench = NASBench101(full_table)
    rows = np.flatnonzero(np.isnan(nb101_npz["train_time_108"]))[:2]
    with pytest.warns(MissingTrainingTimeWarning, match="NaN from now on") as caught:
        for row in rows:
            bench.query(npz_spec(nb101_npz, row))
    assert len(caught) == 1  # once per table object
    time_spent, epochs = bench.get_budget_counters()
    assert math.isnan(time_spent) and epochs == 216


def test_missing_time_mean_charges_the_tables_seconds_per_epoch(sample_table):
    bench = NASBench101(sample_table, missing_time="mean")
    rate = np.nanmean(bench.values("training_time")) / 108  # the sample holds final times, no halfway ones
    specs = [ModelSpec(fixed["module_adjacency"], fixed["module_operations"])
             for fixed in (bench.fixed_statistics[h] for h in list(bench.hash_iterator())[:2])]
    with pytest.warns(MissingTrainingTimeWarning, match=f"{rate:.2f} s per epoch") as caught:
        halfway = [bench.query(spec, stop_halfway=True) for spec in specs]
    assert len(caught) == 1 and all(math.isnan(data["training_time"]) for data in halfway)
    assert bench.get_budget_counters() == (pytest.approx(2 * 54 * rate), 108)
    final = bench.query(specs[0])["training_time"]  # known: counted as it is
    assert bench.get_budget_counters()[0] == pytest.approx(2 * 54 * rate + final)
    assert bench.estimated_time_spent == pytest.approx(2 * 54 * rate)
    bench.reset_budget_counters()
    assert (bench.training_time_spent, bench.estimated_time_spent) == (0.0, 0.0)
    with pytest.raises(UserError, match="missing_time"):
        NASBench101(sample_table, missing_time="zero")


def test_unknown_hashes_are_key_errors_that_print_as_one_line(sample_table):
    bench = NASBench101(sample_table)
    for call in (lambda: bench.get_metrics_from_hash("0" * 32), lambda: bench.lookup(["0" * 32]),
                 lambda: bench.computed_statistics["0" * 32]):
        with pytest.raises(UnknownHashError) as raised:
            call()
        assert isinstance(raised.value, KeyError) and isinstance(raised.value, OutOfDomainError)
        assert str(raised.value) == "module hash 00000000000000000000000000000000 is not in sample.h5"


def test_repeats_are_drawn_at_random_reproducibly_and_averaged(repeats_table):
    path, cells = repeats_table
    benches = [NASBench101(path, seed=seed) for seed in (7, 7, 8)]
    draws = [[bench.query(cells[0])["test_accuracy"] for _ in range(30)] for bench in benches]
    assert draws[0] == draws[1] != draws[2]
    assert set(np.round(draws[0], 6)) == {0.57, 0.67, 0.77}
    bench = NASBench101(path, seed=0)
    assert bench.query_mean(cells[0])["test_accuracy"] == pytest.approx(0.67)
    assert bench.query(cells[0], epochs=12)["test_accuracy"] == 0.25
    assert bench.values("test_accuracy", repeat=2).tolist() == pytest.approx([0.77, 0.77])
    fixed, computed = bench.get_metrics_from_spec(cells[1])
    assert set(fixed) == {"module_adjacency", "module_operations", "trainable_parameters"}
    assert sorted(computed) == [12, 108] and len(computed[108]) == 3 and len(computed[12]) == 1
    assert set(computed[108][0]) == set(METRIC_COLUMNS)
    assert math.isnan(fixed["trainable_parameters"])


def test_top_k_is_sorted_and_matches_a_full_sort(full_table, nb101_npz):
    bench = NASBench101(full_table)
    top = bench.top_k(5)
    expected = np.sort(nb101_npz["test_acc_108_rep0"])[::-1][:5]
    assert [value for _, value in top] == expected.tolist()
    best_hash = top[0][0]
    assert nb101_npz["test_acc_108_rep0"][bench.lookup([best_hash])[0]] == expected[0]
    top_val = bench.top_k(3, "validation_accuracy", epochs=36)
    assert all(math.isfinite(v) for _, v in top_val) and top_val[0][1] >= top_val[-1][1]
    assert bench.top_k(0) == []
    with pytest.raises(UserError, match="unknown metric"):
        bench.top_k(3, "accuracy")


def test_top_k_orders_tied_cells_by_table_row(full_table, nb101_npz):
    """Accuracies repeat often among the best cells: ties go in table order, so a sample drawn from the top k
    is the same cells on every machine, boundary ties included."""
    bench = NASBench101(full_table)
    accuracy = nb101_npz["test_acc_108_rep0"]
    rows = np.flatnonzero(np.isfinite(accuracy))
    expected = rows[np.lexsort((rows, -accuracy[rows]))]
    values = accuracy[expected]
    k = next(i for i in range(2, len(values)) if values[i - 1] == values[i])  # the k-th ties with the next
    top = bench.top_k(k, repeat=0)
    assert bench.lookup([h for h, _ in top]).tolist() == expected[:k].tolist()
    every = bench.top_k(len(values), repeat=0)  # every tie in the table, not only the boundary's
    assert bench.lookup([h for h, _ in every]).tolist() == expected.tolist()


@pytest.mark.full_data("nb101")
def test_vertex_counts_match_the_paper(full_table):
    assert NASBench101(full_table).vertex_counts() == {7: 359082, 6: 62010, 5: 2441, 4: 84, 3: 6, 2: 1}


def test_hash_iterator_yields_every_hash_in_order(sample_table, nb101_sample_records):
    bench = NASBench101(sample_table)
    view = bench.hash_iterator()
    hashes = list(view)
    assert len(hashes) == len(set(hashes)) == len(view) == nb101_sample_records and hashes == sorted(hashes)
    assert list(view) == hashes and hashes[len(hashes) // 2] in view and b"x" not in view  # a view: iterates again


def test_not_a_table_is_a_user_error(tmp_path, nb101_npz_path):
    with pytest.raises(UserError, match="no such table"):
        NASBench101(tmp_path / "absent.h5")
    with pytest.raises(UserError, match="npz table; convert it first"):
        NASBench101(nb101_npz_path)


def test_repeated_runs_in_a_tfrecord_become_repeats_in_order_of_appearance(tmp_path, nb101_tfrecord_path):
    data = nb101_tfrecord_path.read_bytes()
    offsets = [offset for offset, _ in iter_records(nb101_tfrecord_path)] + [len(data)]
    frames = [data[offsets[i]:offsets[i + 1]] for i in range(3)]
    source = tmp_path / "repeats.tfrecord"
    source.write_bytes(b"".join(frames[i] for i in (0, 1, 0, 2, 1, 0)))
    convert(source, tmp_path / "repeats.h5", progress=False)
    bench = NASBench101(tmp_path / "repeats.h5")
    assert bench.config["num_repeats"] == 3
    counts = {h: len(bench.get_metrics_from_hash(h)[1][108]) for h in bench.hash_iterator()}
    first = [parse_record(frames[i][12:-4]).module_hash for i in range(3)]
    assert [counts[h] for h in first] == [3, 2, 1]
