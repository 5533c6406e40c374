"""The benchmark's own trainings as pickers: stand-ins, picks and rank agreement against hand computations."""

import json

import numpy as np
import pytest
from scipy.stats import kendalltau

from tests.tools.test_finalists_nb101 import _write_search
from tests.tools.tool_loader import load_tool


def _cells_with_their_own_validation(table, count: int):
    """`count` cells holding every budget's validation accuracy whose test accuracy no other such cell shares,
    so each is its own nearest stand-in; with their table rows."""
    from samplenas.spaces import SPACES

    test = table.values("test_accuracy", repeat=0)
    known = np.flatnonzero(np.logical_and.reduce(
        [np.isfinite(table.values("validation_accuracy", epochs=e, repeat=0)) for e in (4, 12, 36, 108)]))
    values, counts = np.unique(test[known], return_counts=True)
    unique = known[np.isin(test[known], values[counts == 1])][:count]
    e2e = load_tool("e2e_nb101")
    cells = e2e.table_cells(table, SPACES["nb101"](), [h.decode() for h in table.hashes(unique)])
    return cells, unique


def test_one_stand_in_is_the_cell_itself_and_each_budget_picks_by_its_validation(nb101_npz_path, tmp_path, capsys):
    tool = load_tool("budget_ceiling_nb101")
    e2e = load_tool("e2e_nb101")
    table = e2e.open_table(str(nb101_npz_path), tmp_path)
    cells, rows = _cells_with_their_own_validation(table, 8)
    searches = tmp_path / "searches"
    _write_search(searches / "uniform-seed0", cells, [1] * 8, b"supernet 0")
    _write_search(searches / "vae-seed0", cells[2:8][::-1], [1] * 6, b"supernet 1")  # keeps 6: left out of K = 8
    trained = tmp_path / "finalists"  # a standalone training of the eight, as finalists_nb101 leaves it
    trained.mkdir()
    standalone = [0.41, 0.52, 0.38, 0.47, 0.55, 0.44, 0.50, 0.36]
    (trained / "cells.jsonl").write_text("".join(
        json.dumps({"arch": [int(v) for v in cell], "val_accuracy": acc, "settings": {"steps": 300}}) + "\n"
        for cell, acc in zip(cells, standalone)))
    out = tmp_path / "out"
    assert tool.main(["--out", str(out), "--searches", str(searches), "--table", str(nb101_npz_path),
                      "--kept", "5", "8", "--standins", "1", "--draws", "3", "--cells", "20", "--resamples", "20",
                      "--trained", str(trained)]) == 0
    report = json.loads((out / "budget_ceiling.json").read_text())
    test = 100 * table.values("test_accuracy", rows, repeat=0)
    (run,) = report["trained"]
    assert run["cells"] == 8 and run["settings"] == {"steps": 300}
    assert run["all"]["kendall_tau"] == pytest.approx(kendalltau(standalone, test)[0])
    assert run["top_2_percent_cells"] == int((test >= 93.45).sum())
    for kept, searched in (("5", [rows[:5], rows[2:8][::-1][:5]]), ("8", [rows])):
        found = report["searches"][kept]
        assert len(found["rows"]) == len(searched) and found["kept_fewer"] == 2 - len(searched)
        assert found["widest_standin_gap"] == 0.0
        for row, cells_read in zip(found["rows"], searched):
            accuracy = 100 * table.values("test_accuracy", cells_read, repeat=0)
            picks = row["picks"]
            assert picks["own"] == pytest.approx(accuracy[0]) and picks["oracle"] == pytest.approx(accuracy.max())
            assert picks["oracle-standins"] == pytest.approx(picks["oracle"])
            for epochs in (4, 12, 36, 108):
                validation = table.values("validation_accuracy", cells_read, epochs=epochs, repeat=0)
                assert picks[f"val-{epochs}"] == pytest.approx(accuracy[int(np.argmax(validation))])
    assert report["searches"]["8"]["rules"]["oracle"]["mean"] == pytest.approx(test.max(), abs=1e-3)
    budgets = report["random_cells"]["budgets"]
    sample = np.array(report["random_cells"]["rows"])
    all_test = 100 * table.values("test_accuracy", repeat=0)
    for epochs in (4, 12, 36, 108):
        validation = table.values("validation_accuracy", epochs=epochs, repeat=0)
        assert budgets[str(epochs)]["random"]["kendall_tau"] == pytest.approx(
            kendalltau(validation[sample], all_test[sample])[0])
        assert 80 < budgets[str(epochs)]["pick_of_80"] <= all_test[np.isfinite(validation)].max()
    assert (out / "budget_ceiling.png").stat().st_size > 0 and "written:" in capsys.readouterr().out


def test_stand_ins_are_the_nearest_cells_in_test_accuracy_among_those_with_validation():
    tool = load_tool("budget_ceiling_nb101")
    test = np.array([90.0, 91.0, 91.5, 93.0, 93.25, 94.0, 93.1])
    known = np.array([0, 1, 2, 3, 4, 5])  # row 6 has no validation accuracies: never a stand-in
    found = tool.nearest_standins(np.array([93.1, 90.2]), test, known, 3)
    assert sorted(found[0]) == [3, 4, 5] and sorted(found[1]) == [0, 1, 2]
    assert tool.nearest_standins(np.array([93.1]), test, known, 10).shape == (1, 6)  # no more than there are


def test_a_stand_in_draw_picks_the_highest_validation_and_reports_the_best_stand_in():
    tool = load_tool("budget_ceiling_nb101")
    test = np.array([93.0, 94.0, 92.0, 91.0])
    values = {36: np.array([50.0, 40.0, 60.0, 10.0])}
    candidates = np.array([[0, 1], [2, 3]])  # first cell: rows 0 or 1; second: 2 or 3
    picks = tool.standin_picks(candidates, test, values, 400, np.random.default_rng(0))
    # row 2 (val 60) wins whenever drawn (half the draws); otherwise the first cell's stand-in (val 50 or 40) does
    assert picks["val-36"] == pytest.approx(0.5 * 92.0 + 0.5 * 93.5, abs=0.2)
    assert picks["oracle-standins"] == pytest.approx(93.5, abs=0.2)


def test_a_table_without_validation_accuracies_and_bad_arguments_are_refused(nb101_npz, nb101_npz_path, tmp_path,
                                                                             capsys):
    tool = load_tool("budget_ceiling_nb101")
    bare = tmp_path / "bare.npz"
    np.savez(bare, **{name: column for name, column in nb101_npz.items() if not name.startswith("val_acc_")})
    searches = tmp_path / "searches"
    e2e = load_tool("e2e_nb101")
    from samplenas.spaces import SPACES

    table = e2e.open_table(str(bare), tmp_path / "t")
    cells = e2e.table_cells(table, SPACES["nb101"](), [h for h, _ in table.top_k(3, repeat=0)])
    _write_search(searches / "uniform-seed0", cells, [1] * 3, b"supernet 0")
    with pytest.raises(SystemExit, match="validation accuracies at every budget"):
        tool.main(["--out", str(tmp_path / "out"), "--searches", str(searches), "--table", str(bare)])
    assert not (tmp_path / "out" / "budget_ceiling.json").exists()
    for bad in (["--kept", "0"], ["--standins", "0"], ["--cells", "2"]):
        with pytest.raises(SystemExit):
            tool.main(["--out", str(tmp_path / "o"), "--searches", str(searches), *bad])
        assert "must be" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(["--out", str(tmp_path / "o"), "--searches", str(tmp_path / "nothing")])
    assert "no SAMPLER-seedN/top.json there" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(["--out", str(tmp_path / "o2"), "--searches", str(searches), "--trained", str(searches)])
    assert "no cells.jsonl there" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "cells.jsonl").write_text(json.dumps({"arch": [9] * 26, "val_accuracy": 0.5, "settings": {}}) + "\n")
    with pytest.raises(SystemExit, match="line 1: not a trained cell's record .*out of range"):
        tool.main(["--out", str(tmp_path / "o4"), "--searches", str(searches), "--table", str(nb101_npz_path),
                   "--trained", str(broken), "--cells", "5", "--resamples", "10"])
    with pytest.raises(SystemExit, match="--val-repeat 5: repeat must be"):
        tool.main(["--out", str(tmp_path / "o3"), "--searches", str(searches), "--table", str(nb101_npz_path),
                   "--val-repeat", "5"])
