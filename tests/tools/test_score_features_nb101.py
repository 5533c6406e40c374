"""What a scorer ranks NB101 cells by: structural features of cells, and each scorer's tau against them."""

import json

import numpy as np
import pytest
from scipy.stats import kendalltau

from samplenas.spaces import SPACES
from samplenas.spaces.nasbench101 import EDGES
from tests.tools.tool_loader import load_tool

RANDOM_CELLS_SEED = load_tool("e2e_nb101").RANDOM_CELLS_SEED  # the studies' shared draw


def _encode(edges, ops):
    return tuple(int(edge in edges) for edge in EDGES) + tuple(ops)


def test_cell_features_count_what_the_pruned_cell_has():
    tool = load_tool("score_features_nb101")
    space = SPACES["nb101"]()
    # 0 -> 1 -> 2 -> 6 and 0 -> 6; vertices 3..5 are pruned away (their ops do not count)
    cell = _encode({(0, 1), (1, 2), (2, 6), (0, 6)}, (0, 2, 1, 1, 1))
    assert tool.cell_features(space.decode(cell)) == {
        "vertices": 4, "edges": 4, "depth": 3, "conv3x3": 1, "conv1x1": 0, "maxpool3x3": 1, "input->output": 1}
    diamond = _encode({(0, 1), (0, 2), (1, 3), (2, 3), (3, 6)}, (1, 1, 0, 0, 0))
    assert tool.cell_features(space.decode(diamond)) == {
        "vertices": 5, "edges": 5, "depth": 3, "conv3x3": 1, "conv1x1": 2, "maxpool3x3": 0, "input->output": 0}


@pytest.mark.full_data("nb101")  # the table judges cells of the whole space
def test_a_scorer_that_is_a_feature_has_tau_one_against_it(nb101_table, tmp_path, capsys):
    tool = load_tool("score_features_nb101")
    space = SPACES["nb101"]()
    from samplenas.training.rank import distinct_uniform

    cells = distinct_uniform(space, 40, np.random.default_rng(RANDOM_CELLS_SEED))
    features = [tool.cell_features(space.decode(arch)) for arch in cells]
    rng = np.random.default_rng(0)
    scores = {"random:skip": {space.key(a): f["input->output"] + 0.01 * rng.random() for a, f in zip(cells, features)},
              "random:convs": {space.key(a): float(f["conv3x3"]) for a, f in zip(cells[:30], features)}}
    (tmp_path / "scores.json").write_text(json.dumps(scores))
    labelled = tmp_path / "labelled.jsonl"  # other cells, labelled by how many 3x3 convs they have
    labelled.write_text("".join(json.dumps({"arch": list(a), "acc": f["conv3x3"]}) + "\n"
                                for a, f in zip(cells[30:], features[30:])))
    assert tool.main(["--study", str(tmp_path), "--table", str(nb101_table), "--labelled", str(labelled),
                      "--label", "acc"]) == 0
    report = json.loads((tmp_path / "features.json").read_text())
    assert report["labelled"]["cells"] == 10 and report["tau"]["acc of labelled.jsonl"]["conv3x3"] == pytest.approx(1.0)
    assert report["cells"] == 30  # the cells every asked-for scorer scored
    assert report["tau"]["convs"]["conv3x3"] == pytest.approx(1.0)
    skip = [scores["random:skip"][space.key(a)] for a in cells[:30]]
    assert report["tau"]["skip"]["input->output"] == pytest.approx(
        kendalltau(skip, [f["input->output"] for f in features[:30]])[0])  # a 0/1 feature: tau-b below 1
    assert report["tau"]["skip"]["input->output"] > 0.6
    # external truth: the table's accuracy rises with 3x3 convolutions over random cells
    assert report["tau"]["table accuracy"]["conv3x3"] > 0.2
    assert report["tau"]["table accuracy"]["table accuracy"] == pytest.approx(1.0)
    assert "Kendall tau over 30 random cells" in capsys.readouterr().out


def test_within_groups_ranks_each_value_only_against_its_group():
    tool = load_tool("score_features_nb101")
    positions = tool.within_groups([5.0, 1.0, 3.0, 100.0, 0.0], [4, 4, 4, 7, 7])
    assert positions == pytest.approx([5 / 6, 1 / 6, 3 / 6, 3 / 4, 1 / 4])


@pytest.mark.full_data("nb101")
def test_within_takes_out_the_bias_a_scorer_has_for_a_feature(nb101_table, tmp_path):
    """A scorer that is the table's accuracy swamped by the vertex count ranks far better within equal vertex counts."""
    tool = load_tool("score_features_nb101")
    space = SPACES["nb101"]()
    from samplenas.training.rank import distinct_uniform

    cells = distinct_uniform(space, 60, np.random.default_rng(RANDOM_CELLS_SEED))
    table = tool.open_table(str(nb101_table), tmp_path)
    accuracy = table.values("test_accuracy", table.lookup_archs(cells), repeat=0)
    vertices = [tool.cell_features(space.decode(arch))["vertices"] for arch in cells]
    biased = {space.key(a): float(acc) - 10.0 * v for a, acc, v in zip(cells, accuracy, vertices)}
    (tmp_path / "scores.json").write_text(json.dumps({"random:biased": biased}))
    assert tool.main(["--study", str(tmp_path), "--table", str(nb101_table), "--within", "vertices"]) == 0
    within = json.loads((tmp_path / "features.json").read_text())["within"]
    assert within["feature"] == "vertices" and sum(within["groups"].values()) == 60
    assert within["tau"]["biased"]["within"] > within["tau"]["biased"]["own"] + 0.3
    assert within["tau"]["biased"]["own"] == pytest.approx(kendalltau(list(biased.values()), accuracy)[0])


def test_bad_input_is_a_one_line_exit(tmp_path):
    tool = load_tool("score_features_nb101")
    with pytest.raises(SystemExit, match="scores.json does not exist"):
        tool.main(["--study", str(tmp_path)])
    (tmp_path / "scores.json").write_text(json.dumps({"random:params": {}}))
    with pytest.raises(SystemExit, match="scored no random cells with 'synflow'"):
        tool.main(["--study", str(tmp_path), "--scorers", "synflow"])
    with pytest.raises(SystemExit, match="fewer than 2 random cells"):
        tool.main(["--study", str(tmp_path)])
    (tmp_path / "bad.jsonl").write_text("not json\n")
    space = SPACES["nb101"]()
    with pytest.raises(SystemExit, match="bad.jsonl:1 is not JSON"):
        tool.labelled_row(tmp_path / "bad.jsonl", "val_accuracy", space)


@pytest.mark.full_data("nb101")
def test_a_study_of_table_drawn_cells_is_read_over_the_same_cells(nb101_table, tmp_path):
    """A zero-cost study run with --random-cells table scored the table's kind of cells; the features are taken
    over those, not over the encoding draw (which would share almost none of them)."""
    tool = load_tool("score_features_nb101")
    space = SPACES["nb101"]()
    from samplenas.training.rank import distinct_uniform

    cells = distinct_uniform(SPACES["nb101"](table=str(nb101_table)), 20, np.random.default_rng(RANDOM_CELLS_SEED))
    scores = {"random:edges": {space.key(a): float(tool.cell_features(space.decode(a))["edges"]) for a in cells}}
    (tmp_path / "scores.json").write_text(json.dumps(scores))
    (tmp_path / "zero_cost.json").write_text(json.dumps({"random_cells": "table"}))
    assert tool.main(["--study", str(tmp_path), "--table", str(nb101_table)]) == 0
    report = json.loads((tmp_path / "features.json").read_text())
    assert report["cells"] == 20 and report["tau"]["edges"]["edges"] == pytest.approx(1.0)
