"""The official NAS-Bench-101 README example and notebook search code, run on the real table with only
the import changed.

The blocks marked "verbatim" are copied from google-research/nasbench (Apache-2.0): `example.py`'s
`main` (the README example) and `NASBench.ipynb`'s constants and search cells. The official
`from nasbench import api` became the import below; the file path comes from the `nb101_table`
fixture (the npz table converted: full, or the fixtures' few hundred cells), assigned where the notebook
loads its tfrecord.
"""
# ruff: noqa: UP031  (the official code's % formatting is kept verbatim)

import copy
import json
import math
import random
import warnings

import numpy as np
import pytest

from samplenas.benchmarks.nasbench101 import NASBench101
from samplenas.compat import nasbench as api  # was: from nasbench import api
from samplenas.compat.nasbench import official_config, table_path

nasbench = None  # the notebook's global, set by the `notebook` fixture
# The npz lacks most training times; the tests that check the warning say so, the others expect it.
quiet_time_estimates = pytest.mark.filterwarnings("ignore::samplenas.benchmarks.nasbench101.MissingTrainingTimeWarning")


# --- verbatim: example.py (the README example) -------------------------------------------------
INPUT = 'input'
OUTPUT = 'output'
CONV1X1 = 'conv1x1-bn-relu'
CONV3X3 = 'conv3x3-bn-relu'
MAXPOOL3X3 = 'maxpool3x3'


def main(argv):
  del argv  # Unused

  # Load the data from file (this will take some time)
  nasbench = api.NASBench(NASBENCH_TFRECORD)

  # Create an Inception-like module (5x5 convolution replaced with two 3x3
  # convolutions).
  model_spec = api.ModelSpec(
      # Adjacency matrix of the module
      matrix=[[0, 1, 1, 1, 0, 1, 0],    # input layer
              [0, 0, 0, 0, 0, 0, 1],    # 1x1 conv
              [0, 0, 0, 0, 0, 0, 1],    # 3x3 conv
              [0, 0, 0, 0, 1, 0, 0],    # 5x5 conv (replaced by two 3x3's)
              [0, 0, 0, 0, 0, 0, 1],    # 5x5 conv (replaced by two 3x3's)
              [0, 0, 0, 0, 0, 0, 1],    # 3x3 max-pool
              [0, 0, 0, 0, 0, 0, 0]],   # output layer
      # Operations at the vertices of the module, matches order of matrix
      ops=[INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT])

  # Query this model from dataset, returns a dictionary containing the metrics
  # associated with this model.
  print('Querying an Inception-like model.')
  data = nasbench.query(model_spec)
  print(data)
  print(nasbench.get_budget_counters())   # prints (total time, total epochs)

  # Get all metrics (all epoch lengths, all repeats) associated with this
  # model_spec. This should be used for dataset analysis and NOT for
  # benchmarking algorithms (does not increment budget counters).
  print('\nGetting all metrics for the same Inception-like model.')
  fixed_metrics, computed_metrics = nasbench.get_metrics_from_spec(model_spec)
  print(fixed_metrics)
  for epochs in nasbench.valid_epochs:
    for repeat_index in range(len(computed_metrics[epochs])):
      data_point = computed_metrics[epochs][repeat_index]
      print('Epochs trained %d, repeat number: %d' % (epochs, repeat_index + 1))
      print(data_point)

  # Iterate through unique models in the dataset. Models are unqiuely identified
  # by a hash.
  print('\nIterating over unique models in the dataset.')
  for unique_hash in nasbench.hash_iterator():
    fixed_metrics, computed_metrics = nasbench.get_metrics_from_hash(
        unique_hash)
    print(fixed_metrics)

    # For demo purposes, break here instead of iterating through whole set.
    break


# --- verbatim: NASBench.ipynb, constants and the search cells --------------------------------------
NUM_VERTICES = 7
MAX_EDGES = 9
EDGE_SPOTS = NUM_VERTICES * (NUM_VERTICES - 1) / 2   # Upper triangular matrix
OP_SPOTS = NUM_VERTICES - 2   # Input/output vertices are fixed
ALLOWED_OPS = [CONV3X3, CONV1X1, MAXPOOL3X3]
ALLOWED_EDGES = [0, 1]   # Binary adjacency matrix


def random_spec():
  """Returns a random valid spec."""
  while True:
    matrix = np.random.choice(ALLOWED_EDGES, size=(NUM_VERTICES, NUM_VERTICES))
    matrix = np.triu(matrix, 1)
    ops = np.random.choice(ALLOWED_OPS, size=(NUM_VERTICES)).tolist()
    ops[0] = INPUT
    ops[-1] = OUTPUT
    spec = api.ModelSpec(matrix=matrix, ops=ops)
    if nasbench.is_valid(spec):
      return spec

def mutate_spec(old_spec, mutation_rate=1.0):
  """Computes a valid mutated spec from the old_spec."""
  while True:
    new_matrix = copy.deepcopy(old_spec.original_matrix)
    new_ops = copy.deepcopy(old_spec.original_ops)

    # In expectation, V edges flipped (note that most end up being pruned).
    edge_mutation_prob = mutation_rate / NUM_VERTICES
    for src in range(0, NUM_VERTICES - 1):
      for dst in range(src + 1, NUM_VERTICES):
        if random.random() < edge_mutation_prob:
          new_matrix[src, dst] = 1 - new_matrix[src, dst]

    # In expectation, one op is resampled.
    op_mutation_prob = mutation_rate / OP_SPOTS
    for ind in range(1, NUM_VERTICES - 1):
      if random.random() < op_mutation_prob:
        available = [o for o in nasbench.config['available_ops'] if o != new_ops[ind]]
        new_ops[ind] = random.choice(available)

    new_spec = api.ModelSpec(new_matrix, new_ops)
    if nasbench.is_valid(new_spec):
      return new_spec

def random_combination(iterable, sample_size):
  """Random selection from itertools.combinations(iterable, r)."""
  pool = tuple(iterable)
  n = len(pool)
  indices = sorted(random.sample(range(n), sample_size))
  return tuple(pool[i] for i in indices)

def run_random_search(max_time_budget=5e6):
  """Run a single roll-out of random search to a fixed time budget."""
  nasbench.reset_budget_counters()
  times, best_valids, best_tests = [0.0], [0.0], [0.0]
  while True:
    spec = random_spec()
    data = nasbench.query(spec)

    # It's important to select models only based on validation accuracy, test
    # accuracy is used only for comparing different search trajectories.
    if data['validation_accuracy'] > best_valids[-1]:
      best_valids.append(data['validation_accuracy'])
      best_tests.append(data['test_accuracy'])
    else:
      best_valids.append(best_valids[-1])
      best_tests.append(best_tests[-1])

    time_spent, _ = nasbench.get_budget_counters()
    times.append(time_spent)
    if time_spent > max_time_budget:
      # Break the first time we exceed the budget.
      break

  return times, best_valids, best_tests

def run_evolution_search(max_time_budget=5e6,
                         population_size=50,
                         tournament_size=10,
                         mutation_rate=1.0):
  """Run a single roll-out of regularized evolution to a fixed time budget."""
  nasbench.reset_budget_counters()
  times, best_valids, best_tests = [0.0], [0.0], [0.0]
  population = []   # (validation, spec) tuples

  # For the first population_size individuals, seed the population with randomly
  # generated cells.
  for _ in range(population_size):
    spec = random_spec()
    data = nasbench.query(spec)
    time_spent, _ = nasbench.get_budget_counters()
    times.append(time_spent)
    population.append((data['validation_accuracy'], spec))

    if data['validation_accuracy'] > best_valids[-1]:
      best_valids.append(data['validation_accuracy'])
      best_tests.append(data['test_accuracy'])
    else:
      best_valids.append(best_valids[-1])
      best_tests.append(best_tests[-1])

    if time_spent > max_time_budget:
      break

  # After the population is seeded, proceed with evolving the population.
  while True:
    sample = random_combination(population, tournament_size)
    best_spec = sorted(sample, key=lambda i:i[0])[-1][1]
    new_spec = mutate_spec(best_spec, mutation_rate)

    data = nasbench.query(new_spec)
    time_spent, _ = nasbench.get_budget_counters()
    times.append(time_spent)

    # In regularized evolution, we kill the oldest individual in the population.
    population.append((data['validation_accuracy'], new_spec))
    population.pop(0)

    if data['validation_accuracy'] > best_valids[-1]:
      best_valids.append(data['validation_accuracy'])
      best_tests.append(data['test_accuracy'])
    else:
      best_valids.append(best_valids[-1])
      best_tests.append(best_tests[-1])

    if time_spent > max_time_budget:
      break

  return times, best_valids, best_tests
# --- end of the official code ------------------------------------------------------------------


NASBENCH_TFRECORD = None  # example.py's path constant, set by the test


@pytest.fixture
def notebook(nb101_table, monkeypatch):
    """The notebook's `nasbench = api.NASBench(...)` cell, with the global RNGs it uses seeded."""
    np.random.seed(0)
    random.seed(0)
    bench = api.NASBench(str(nb101_table), seed=0)
    monkeypatch.setitem(globals(), "nasbench", bench)
    return bench


def test_the_readme_example_runs_and_prints_what_the_official_prints(nb101_table, nb101_npz, monkeypatch, capsys):
    monkeypatch.setitem(globals(), "NASBENCH_TFRECORD", str(nb101_table))
    rate = np.nanmean(nb101_npz["train_time_108"]) / 108  # 17.82 s on the full table
    with pytest.warns(api.MissingTrainingTimeWarning, match=f"{rate:.2f} s per epoch"):
        main([])
    out = capsys.readouterr().out
    bench = NASBench101(nb101_table)
    spec = api.ModelSpec([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
                          [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
                         [INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT])
    expected = bench.values("test_accuracy", bench.lookup_specs([spec]))[0]
    assert f"'test_accuracy': {expected}}}" in out and 0.9 < expected < 1.0
    # The npz lacks this cell's time: the counter holds the table's mean time per 108-epoch run.
    counters = next(line for line in out.splitlines() if line.startswith("("))
    time_spent, epochs = (float(v) for v in counters.strip("()").split(","))
    assert epochs == 108 and time_spent == pytest.approx(np.nanmean(nb101_npz["train_time_108"]))
    assert "Epochs trained 108, repeat number: 1" in out
    for epochs in (4, 12, 36):  # in valid_epochs, but this cell has no run there in the npz: nothing printed
        assert f"Epochs trained {epochs}," not in out
    first = next(iter(bench.hash_iterator()))
    assert out.rstrip().endswith(str(bench.get_metrics_from_hash(first)[0]))


@pytest.mark.full_data("nb101")  # draws cells from the whole space
def test_the_notebooks_random_search_ends_at_its_budget_on_a_table_lacking_most_times(notebook, nb101_npz):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        times, best_valids, best_tests = run_random_search()
        times2, _, _ = run_random_search(max_time_budget=1e5)
    assert len([w for w in caught if issubclass(w.category, api.MissingTrainingTimeWarning)]) == 1
    assert "per epoch" in str(caught[0].message)
    queries = len(times) - 1
    assert times[-2] <= 5e6 < times[-1] and np.all(np.diff(times) > 0)
    time_spent, epochs = notebook.get_budget_counters()
    assert time_spent == times2[-1] and epochs == 108 * (len(times2) - 1)  # reset between the runs
    rate = np.nanmean(nb101_npz["train_time_108"]) / 108
    assert 0.5 * 5e6 / (rate * 108) < queries < 2 * 5e6 / (rate * 108)
    assert np.all(np.diff(best_valids) >= 0)
    known_tests = set(nb101_npz["test_acc_108_rep0"][np.isfinite(nb101_npz["val_acc_108"])].tolist())
    assert best_valids[-1] > 0.93 and best_tests[-1] in known_tests  # selected on validation accuracy


@quiet_time_estimates
@pytest.mark.full_data("nb101")  # draws cells from the whole space
def test_the_notebooks_regularised_evolution_runs_to_its_budget(notebook):
    times, best_valids, best_tests = run_evolution_search()
    assert times[-2] <= 5e6 < times[-1] and len(times) > 51
    assert np.all(np.diff(best_valids) >= 0) and best_valids[-1] > 0.9 and 0.8 < best_tests[-1] < 1.0
    assert notebook.get_budget_counters()[1] == 108 * (len(times) - 1)


@quiet_time_estimates
def test_the_notebooks_basic_usage_cell_prints_the_official_keys(notebook, capsys):
    cell = api.ModelSpec(
      matrix=[[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
              [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
      ops=[INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT])
    data = nasbench.query(cell)
    for k, v in data.items():
      print('%s: %s' % (k, str(v)))
    keys = [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if ": " in line]
    assert keys == ["module_adjacency", "module_operations", "trainable_parameters", "training_time",
                    "train_accuracy", "validation_accuracy", "test_accuracy"]


def test_hash_iterator_is_a_keys_view_and_the_statistics_are_mappings(notebook, nb101_npz):
    hashes = notebook.hash_iterator()
    assert len(hashes) == len(nb101_npz["hash"]) and list(hashes)[:3] == list(hashes)[:3]  # re-iterable, with a length
    first = nb101_npz["hash"][0].decode()
    assert first in hashes and "0" * 32 not in hashes and 42 not in hashes
    assert next(iter(hashes)) == first
    fixed = notebook.fixed_statistics[first]
    assert fixed["module_operations"] == notebook.get_metrics_from_hash(first)[0]["module_operations"]
    computed = notebook.computed_statistics[first]
    assert sorted(computed) == sorted(notebook.valid_epochs) == [4, 12, 36, 108]
    assert computed[108][0]["final_test_accuracy"] == nb101_npz["test_acc_108_rep0"][0]
    assert len(notebook.fixed_statistics) == len(notebook.computed_statistics) == len(hashes)


def test_valid_epochs_are_keys_of_every_cells_metrics(notebook, nb101_npz):
    without = int(np.flatnonzero(np.isnan(nb101_npz["val_acc_4"]))[0])
    with_runs = int(np.flatnonzero(np.isfinite(nb101_npz["val_acc_4"]))[0])
    for row, runs_at_4 in ((without, 0), (with_runs, 1)):
        _, computed = notebook.get_metrics_from_hash(nb101_npz["hash"][row].decode())
        assert set(computed) == notebook.valid_epochs
        assert len(computed[4]) == runs_at_4 and len(computed[108]) == 1


@quiet_time_estimates
def test_an_unknown_hash_raises_key_error_and_bad_specs_out_of_domain(notebook):
    with pytest.raises(KeyError):
        notebook.get_metrics_from_hash("0" * 32)
    with pytest.raises(api.OutOfDomainError, match="not in") as raised:
        notebook.computed_statistics["f" * 32]
    assert str(raised.value).startswith("module hash")  # a message, not KeyError's quoted repr
    bad = api.ModelSpec([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT])
    with pytest.raises(api.OutOfDomainError) as raised:
        notebook.query(bad)
    assert not isinstance(raised.value, KeyError)
    with pytest.raises(api.OutOfDomainError, match="epochs"):
        notebook.query(random_spec(), epochs=100)


@quiet_time_estimates
def test_more_than_seven_vertices_or_nine_edges_are_out_of_domain_as_in_the_official(notebook, nb101_npz):
    # the official `_check_spec` counts the pruned cell: vertices off every input-output path do not count
    for n in (8, 9, 12):
        chain = np.eye(n, k=1, dtype=int)  # every vertex on the one path: nothing is pruned
        spec = api.ModelSpec(chain, [INPUT] + [CONV3X3] * (n - 2) + [OUTPUT])
        assert not notebook.is_valid(spec)
        for query in (notebook.query, notebook.get_metrics_from_spec):
            with pytest.raises(api.OutOfDomainError, match=f"{n} vertices .*at most 7"):
                query(spec)
    assert notebook.get_budget_counters() == (0.0, 0)  # a refused query charges nothing
    dense = api.ModelSpec(np.triu(np.ones((7, 7), dtype=int), 1), [INPUT] + [CONV3X3] * 5 + [OUTPUT])
    with pytest.raises(api.OutOfDomainError, match="21 edges .*at most 9"):
        notebook.query(dense)
    row = int(np.flatnonzero(nb101_npz["num_vertices"] == 7)[0])
    fixed, _ = notebook.get_metrics_from_hash(nb101_npz["hash"][row].decode())
    matrix = np.asarray(fixed["module_adjacency"])
    padded = np.zeros((8, 8), dtype=int)  # the same cell with an eighth vertex before the output that
    padded[:6, :6], padded[:6, 7] = matrix[:6, :6], matrix[:6, 6]  # leads nowhere: pruned, as the official does
    padded[0, 6] = 1
    spec = api.ModelSpec(padded, fixed["module_operations"][:6] + [CONV1X1, OUTPUT])
    assert notebook.is_valid(spec) and notebook.query(spec)["test_accuracy"] == nb101_npz["test_acc_108_rep0"][row]


def test_config_has_the_official_keys_and_values(notebook):
    config = notebook.config
    official = {  # nasbench/lib/config.py defaults, in its order
        "train_data_files": [], "valid_data_file": "", "test_data_file": "", "sample_data_file": "",
        "data_format": "channels_last", "num_labels": 10, "module_vertices": 7, "max_edges": 9,
        "available_ops": ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"], "stem_filter_size": 128,
        "num_stacks": 3, "num_modules_per_stack": 3, "batch_size": 256, "train_epochs": 108,
        "train_seconds": 14400.0, "learning_rate": 0.1, "lr_decay_method": "COSINE_BY_STEP", "momentum": 0.9,
        "weight_decay": 1e-4, "max_attempts": 5, "intermediate_evaluations": ["0.5"], "num_repeats": 3,
        "use_tpu": True, "tpu_iterations_per_loop": 100, "tpu_num_shards": 2,
    }
    assert list(config) == list(official)
    assert {**config, "num_repeats": 3} == official
    assert config["num_repeats"] == 1  # what this table holds (the npz keeps one run per cell)
    assert official_config() == official


def test_missing_time_nan_keeps_the_counter_unknown_and_says_so(nb101_table, nb101_npz):
    bench = api.NASBench(nb101_table, missing_time="nan")
    row = int(np.flatnonzero(np.isnan(nb101_npz["train_time_108"]))[0])
    fixed, _ = bench.get_metrics_from_hash(nb101_npz["hash"][row].decode())
    spec = api.ModelSpec(fixed["module_adjacency"], fixed["module_operations"])
    with pytest.warns(api.MissingTrainingTimeWarning, match="NaN from now on"):
        data = bench.query(spec)
    assert math.isnan(data["training_time"]) and math.isnan(bench.get_budget_counters()[0])
    estimating = api.NASBench(nb101_table)
    with pytest.warns(api.MissingTrainingTimeWarning, match="estimate"):
        assert math.isnan(estimating.query(spec)["training_time"])  # the data stays missing
    assert estimating.get_budget_counters()[0] == estimating.estimated_time_spent == pytest.approx(
        np.nanmean(nb101_npz["train_time_108"]))


def test_a_tfrecord_is_converted_once_into_the_cache(nb101_tfrecord_path, nb101_sample_records, tmp_path,
                                                    monkeypatch, capsys):
    monkeypatch.setenv("SAMPLENAS_CACHE", str(tmp_path))
    bench = api.NASBench(nb101_tfrecord_path)
    assert f"Converting {nb101_tfrecord_path.name} once" in capsys.readouterr().out
    assert len(bench.hash_iterator()) == nb101_sample_records
    again = api.NASBench(nb101_tfrecord_path)
    assert capsys.readouterr().out == "" and again.path == bench.path == table_path(nb101_tfrecord_path)
    assert again.path.parent == tmp_path / "nasbench101"


CONVERT = """
import sys
from samplenas import disk_space
if sys.argv[2] == "past-the-check":
    disk_space.free_bytes = lambda path: 10**12  # the write itself meets the full disk
from samplenas.compat import nasbench as api
api.NASBench(sys.argv[1])
"""


@pytest.mark.parametrize("where", ["at-the-check", "past-the-check"])
def test_a_tfrecord_converted_on_a_full_disk_is_one_error_and_leaves_no_file(where, nb101_tfrecord_path,
                                                                           small_filesystem):
    # in a child process: the HDF5 write used to crash the interpreter (a segmentation fault) here
    import os
    import subprocess
    import sys

    cache = small_filesystem("16k")
    done = subprocess.run([sys.executable, "-c", CONVERT, str(nb101_tfrecord_path), where], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "SAMPLENAS_CACHE": str(cache)})
    assert done.returncode == 1, (done.returncode, done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    folder = cache / "nasbench101"
    reason = "no room for the NAS-Bench-101 table" if where == "at-the-check" else "No space left on device"
    assert last.startswith("samplenas.disk_space.NoRoom: ") and reason in last, done.stderr
    assert str(folder) in last and last.endswith("$SAMPLENAS_CACHE names another cache folder")
    assert not [path for path in cache.rglob("*") if not path.is_dir()]  # no table, no partial file


def test_evaluate_trains_the_cell_with_the_config_recipe(nb101_table, nb101_npz, tmp_path):
    bench = api.NASBench(nb101_table)
    row = int(np.flatnonzero(np.isfinite(nb101_npz["params"]))[0])
    fixed, _ = bench.get_metrics_from_hash(nb101_npz["hash"][row].decode())
    spec = api.ModelSpec(fixed["module_adjacency"], fixed["module_operations"])
    bench.config.update(train_epochs=1, batch_size=32, stem_filter_size=16)  # official layout, narrower
    data = bench.evaluate(spec, tmp_path / "model", data="digits", limit=64, device="cpu")
    assert set(data) == {"module_adjacency", "module_operations", "trainable_parameters", "training_time",
                         "train_accuracy", "validation_accuracy", "test_accuracy"}
    assert all(0.0 <= data[k] <= 1.0 for k in ("train_accuracy", "validation_accuracy", "test_accuracy"))
    metadata = json.loads((tmp_path / "model" / "metadata.json").read_text())
    final = metadata["evaluation_results"][-1]
    assert final["training_steps"] == 2 and final["training_time"] == data["training_time"] > 0
    assert metadata["recipe"]["network"] == {"stem_channels": 16, "num_stacks": 3, "cells_per_stack": 3}
    assert metadata["recipe"]["lr"] == pytest.approx(0.2) and metadata["recipe"]["optimizer"] == "rmsprop_tf"
    assert (tmp_path / "model" / "checkpoint.pt").exists()
    bench.config["stem_filter_size"] = 128  # the official network: its size is the table's
    full = bench.evaluate(spec, tmp_path / "full", data="digits", limit=32, device="cpu")
    gray_stem = (3 - 1) * 128 * 3 * 3  # digits have 1 channel, CIFAR-10 3: the 3x3 stem conv has fewer weights
    assert full["trainable_parameters"] + gray_stem == fixed["trainable_parameters"] == nb101_npz["params"][row]
    with pytest.raises(api.OutOfDomainError):
        bench.evaluate(api.ModelSpec([[0, 1], [0, 0]], [INPUT, INPUT]), tmp_path / "bad")
