"""What a search saw: every kept cell in the search's order, judged by the table."""

import json

import numpy as np
import pytest
from scipy.stats import kendalltau

from tests.tools.test_finalists_nb101 import _write_search
from tests.tools.tool_loader import load_tool


def test_reports_the_best_cell_each_search_kept_its_place_and_the_bands(nb101_npz_path, tmp_path, capsys):
    tool = load_tool("search_seen_nb101")
    e2e = load_tool("e2e_nb101")
    from samplenas.spaces import SPACES

    table = e2e.open_table(str(nb101_npz_path), tmp_path)
    cells = e2e.table_cells(table, SPACES["nb101"](), [h for h, _ in table.top_k(14, repeat=0)])
    accuracy = 100 * table.values("test_accuracy", table.lookup_archs(cells), repeat=0)
    searches = tmp_path / "searches"
    order_a = [5, 2, 0, 7, 9, 1, 3, 4, 6, 8, 10, 11]  # the table's best (cells[0]) at place 3
    order_b = list(range(13, 1, -1))  # worst first: the table's best of these last, the order ranking backwards
    _write_search(searches / "uniform-seed0", [cells[i] for i in order_a], [1] * 12)
    _write_search(searches / "vae-seed0", [cells[i] for i in order_b], [1] * 12)
    out = tmp_path / "out"
    assert tool.main(["--out", str(out), "--searches", str(searches), "--table", str(nb101_npz_path)]) == 0
    report = json.loads((out / "search_seen.json").read_text())
    a, b = (accuracy[order] for order in (order_a, order_b))
    assert report["searches"] == 2 and report["kept"] == [12, 12]
    first, second = report["rows"]
    assert first["best"] == pytest.approx(accuracy[0]) and first["best_place"] == int(np.argmax(a)) + 1
    assert second["best"] == pytest.approx(accuracy[2]) and second["best_place"] == int(np.argmax(b)) + 1
    for row, kept in ((first, a), (second, b)):  # the search's order against the table
        assert row["tau"] == pytest.approx(kendalltau(-np.arange(12), kept)[0])
    assert second["tau"] < 0  # b's order ranks its cells backwards
    assert report["by_place"]["1"] == pytest.approx((a[0] + b[0]) / 2, abs=1e-3)
    assert report["by_place"]["1-10"] == pytest.approx((a[:10].mean() + b[:10].mean()) / 2, abs=1e-3)
    assert report["by_place"]["11-20"] == pytest.approx((a[10:].mean() + b[10:].mean()) / 2, abs=1e-3)
    assert "21-40" not in report["by_place"]  # no search kept that far
    assert report["best_place"]["within_10"] == sum(r["best_place"] <= 10 for r in report["rows"])
    assert report["searches_with_a_top_2_percent_cell"] == sum(int(best >= 93.45) for best in (a.max(), b.max()))
    assert (out / "search_seen.png").stat().st_size > 0 and "written:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        tool.main(["--out", str(out), "--searches", str(tmp_path / "nothing"), "--table", str(nb101_npz_path)])
    assert "no SAMPLER-seedN/top.json there" in capsys.readouterr().err


def test_a_re_scored_search_is_read_in_its_own_order(nb101_npz_path, tmp_path):
    tool = load_tool("search_seen_nb101")
    e2e = load_tool("e2e_nb101")
    from samplenas.spaces import SPACES

    table = e2e.open_table(str(nb101_npz_path), tmp_path)
    cells = e2e.table_cells(table, SPACES["nb101"](), [h for h, _ in table.top_k(12, repeat=0)])
    _write_search(tmp_path / "s" / "uniform-seed0", cells, [1] * 12, rescored=True)  # ten written reversed
    assert tool.main(["--out", str(tmp_path / "o"), "--searches", str(tmp_path / "s"),
                      "--table", str(nb101_npz_path)]) == 0
    row = json.loads((tmp_path / "o" / "search_seen.json").read_text())["rows"][0]
    assert row["best_place"] == 1  # the search had the table's best first; the re-scoring put it tenth


def test_a_re_scored_search_splits_its_picks_gap_in_three(nb101_npz_path, tmp_path, capsys):
    tool = load_tool("search_seen_nb101")
    e2e = load_tool("e2e_nb101")
    from samplenas.spaces import SPACES

    table = e2e.open_table(str(nb101_npz_path), tmp_path)
    ranked = table.top_k(40, repeat=0)
    cells = e2e.table_cells(table, SPACES["nb101"](), [h for h, _ in ranked])
    accuracy = 100 * table.values("test_accuracy", table.lookup_archs(cells), repeat=0)
    own_order = [cells[i] for i in (20, 11, 25, 30, 21, 22, 23, 24, 26, 27, 5, 31)]  # best (5) scored, not kept
    _write_search(tmp_path / "s" / "uniform-seed0", own_order, [1] * 12, rescored=True)  # pick: 10th, cells[27]
    _write_search(tmp_path / "s" / "vae-seed0", cells[:12], [1] * 12)  # not re-scored: no gap
    assert tool.main(["--out", str(tmp_path / "o"), "--searches", str(tmp_path / "s"),
                      "--table", str(nb101_npz_path)]) == 0
    report = json.loads((tmp_path / "o" / "search_seen.json").read_text())
    best = 100 * ranked[0][1]
    assert report["table_best"] == pytest.approx(best, abs=1e-3)
    gap = report["rows"][0]["gap"]
    assert gap["exploring"] == pytest.approx(best - accuracy[5], abs=1e-3)
    assert gap["keeping"] == pytest.approx(accuracy[5] - accuracy[11], abs=1e-3)  # the best finalist: cells[11]
    assert gap["picking"] == pytest.approx(accuracy[11] - accuracy[27], abs=1e-3)
    assert "gap" not in report["rows"][1]
    assert report["gap"] == {"searches": 1, **gap}
    assert "exploring" in capsys.readouterr().out
