"""The finalists study: each search's ten best trained alone, the rules' picks judged by the table."""

import json

import numpy as np
import pytest

from tests.tools.tool_loader import load_tool


def _write_search(run, cells, params, checkpoint: bytes | None = None, rescored: bool = False,
                  ranked: bool = True) -> None:
    """A search folder as the e2e tool leaves it: top.json (best first) beside the supernet's checkpoint;
    `ranked` False: re-scored as search wrote it before it recorded `search_rank` (the objective only)."""
    run.mkdir(parents=True)
    entries = [{"encoding": [int(v) for v in cell], "params": p} for cell, p in zip(cells, params)]
    report = {"top": entries}
    if rescored:  # finalists re-ordered: reversed here, their own order in search_objective / search_rank
        report["rescored"] = {"top": 10, "scorer": "params"}
        for rank, entry in enumerate(entries, 1):
            entry["search_objective"] = -1.0 + rank / 100
            if ranked:
                entry["search_rank"] = rank
        report["top"] = entries[:10][::-1] + entries[10:]
    (run / "top.json").write_text(json.dumps(report))
    if checkpoint is not None:
        (run / "checkpoint.pt").write_bytes(checkpoint)


def test_smoke_trains_each_distinct_finalist_once_and_judges_the_rules(data_dir, nb101_npz_path, tmp_path, capsys):
    study = load_tool("finalists_nb101")
    e2e = load_tool("e2e_nb101")
    from samplenas.spaces import SPACES

    table = e2e.open_table(str(nb101_npz_path), tmp_path)
    cells = e2e.table_cells(table, SPACES["nb101"](), [h for h, _ in table.top_k(14, repeat=0)])
    params = [1000 + 7 * (i % 5) for i in range(14)]
    plain, again = tmp_path / "plain", tmp_path / "again"
    _write_search(plain / "uniform-seed0", cells[:10], params[:10], b"supernet 0")
    _write_search(plain / "uniform-seed1", cells[4:14], params[4:14], b"supernet 1")
    _write_search(again / "uniform-seed0", cells[2:12], params[2:12], b"supernet 0", rescored=True)
    _write_search(again / "uniform-seed1", cells[4:14], params[4:14], b"supernet 1", rescored=True, ranked=False)
    out = tmp_path / "out"
    argv = ["--smoke", "--out", str(out), "--table", str(nb101_npz_path), "--data-dir", str(data_dir),
            "--searches", str(plain), str(again)]
    assert study.main(argv) == 0
    report = json.loads((out / "finalists.json").read_text())
    assert report["searches"] == 4 and report["supernets"] == 2  # two searches of each supernet
    trained = [json.loads(line) for line in (out / "cells.jsonl").read_text().splitlines()]
    assert len(trained) == 14  # every distinct finalist once
    alone = {tuple(record["arch"]): record["val_accuracy"] for record in trained}
    loss = {tuple(record["arch"]): record["loss_last_50"] for record in trained}
    accuracy = dict(zip(map(tuple, cells), 100 * table.values("test_accuracy", table.lookup_archs(cells), repeat=0)))
    # the re-scored searches are read in their own order (search_rank, or the objective alone in an older
    # top.json), so their own picks are cells[2] and cells[4]
    for row, first in zip(report["rows"], (0, 4, 2, 4)):
        ten = [tuple(c) for c in cells[first:first + 10]]
        assert row["picks"]["own"] == pytest.approx(accuracy[ten[0]])
        scores = [alone[c] for c in ten]
        best = int(np.flatnonzero(np.array(scores) == max(scores))[0])
        assert row["picks"]["alone-10"] == pytest.approx(accuracy[ten[best]])
        assert row["picks"]["params-10"] == pytest.approx(accuracy[ten[int(np.argmax(params[first:first + 10]))]])
        assert row["picks"]["oracle-10"] == pytest.approx(max(accuracy[c] for c in ten))
        losses = np.array([loss[c] for c in ten])
        lowest = int(np.flatnonzero(losses == losses.min())[0])
        assert row["picks"]["loss-10"] == pytest.approx(accuracy[ten[lowest]])
    own = report["rules"]["own"]
    assert own["paired"] == 0 and own["mean"] == pytest.approx(
        np.mean([row["picks"]["own"] for row in report["rows"]]), abs=1e-3)
    assert report["rules"]["oracle-10"]["paired"] >= 0
    assert "written:" in capsys.readouterr().out and (out / "finalists.png").stat().st_size > 0
    # a second call trains nothing and reports the same
    assert study.main(argv) == 0
    assert "0 to train" in capsys.readouterr().out
    assert json.loads((out / "finalists.json").read_text())["rules"] == report["rules"]
    # another recipe's training of the same finalists, paired against the first: its alone-10 is the baseline
    other = tmp_path / "other"
    assert study.main([*argv[:2], str(other), *argv[3:], "--seed", "1", "--paired-against", str(out)]) == 0
    paired = json.loads((other / "finalists.json").read_text())
    assert paired["baseline"] == "paired-alone-10" and paired["paired_against"]["settings"] == report["settings"]
    assert [row["picks"]["paired-alone-10"] for row in paired["rows"]] == [
        row["picks"]["alone-10"] for row in report["rows"]]
    assert paired["rules"]["paired-alone-10"]["paired"] == 0
    # a reduced-resolution training of them is its own recipe, recorded as such
    small = tmp_path / "small"
    assert study.main([*argv[:2], str(small), *argv[3:], "--image-size", "4", "--paired-against", str(out)]) == 0
    records = [json.loads(line) for line in (small / "cells.jsonl").read_text().splitlines()]
    assert {record["settings"]["image_size"] for record in records} == {4}
    assert json.loads((small / "finalists.json").read_text())["settings"]["image_size"] == 4
    assert paired["rules"]["alone-10"]["mean"] == pytest.approx(
        np.mean([row["picks"]["alone-10"] for row in paired["rows"]]), abs=1e-3)
    # ... which must hold every finalist; an unknown baseline is refused
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "cells.jsonl").write_text("".join(
        line + "\n" for line in (out / "cells.jsonl").read_text().splitlines()[:5]))
    with pytest.raises(SystemExit, match="has not trained 9 of these searches' finalists"):
        study.main([*argv[:2], str(other), *argv[3:], "--seed", "1", "--paired-against", str(tmp_path / "partial")])
    first = (out / "cells.jsonl").read_text().splitlines()[0]
    (tmp_path / "partial" / "cells.jsonl").write_text(f"not a record\n{first}\n")
    with pytest.raises(SystemExit, match="line 1: not a trained cell's record"):
        study.main([*argv[:2], str(other), *argv[3:], "--seed", "1", "--paired-against", str(tmp_path / "partial")])
    # a torn last line (an interrupted write) is a cell not trained yet; two recipes in one log are refused
    (tmp_path / "partial" / "cells.jsonl").write_text((out / "cells.jsonl").read_text() + '{"arch": [0, 1')
    assert study.main([*argv[:2], str(other), *argv[3:], "--seed", "1", "--paired-against",
                       str(tmp_path / "partial")]) == 0
    record = json.loads(first)
    record["settings"] = {**record["settings"], "steps": record["settings"]["steps"] + 1}
    (tmp_path / "partial" / "cells.jsonl").write_text((out / "cells.jsonl").read_text() + json.dumps(record) + "\n")
    with pytest.raises(SystemExit, match="mixes 2 recipes; give a run of one"):
        study.main([*argv[:2], str(other), *argv[3:], "--seed", "1", "--paired-against", str(tmp_path / "partial")])
    with pytest.raises(SystemExit):
        study.main([*argv, "--baseline", "largest"])
    assert "--baseline largest: not a rule here" in capsys.readouterr().err
    # --finalists 12: the searches' twelve best, judged by alone-12 and oracle-12; every other rule reads the
    # first ten as before (the cells are trained already: the first call trained cells[4:14])
    wide = tmp_path / "wide"
    _write_search(wide / "uniform-seed0", cells[:12][::-1], params[:12][::-1], b"supernet 0")  # the table's
    _write_search(wide / "uniform-seed1", cells[2:14][::-1], params[2:14][::-1], b"supernet 1")  # best come last
    assert study.main([*argv[:-2], str(wide), "--finalists", "12", "--baseline", "alone-10"]) == 0
    assert "0 to train" in capsys.readouterr().out
    widened = json.loads((out / "finalists.json").read_text())
    assert widened["finalists"] == 12 and widened["baseline"] == "alone-10"
    for row, first in zip(widened["rows"], (0, 2)):
        twelve = [tuple(c) for c in cells[first:first + 12][::-1]]
        scores = np.array([alone[c] for c in twelve])
        best = int(np.flatnonzero(scores == scores.max())[0])
        assert row["picks"]["alone-12"] == pytest.approx(accuracy[twelve[best]])
        assert row["picks"]["oracle-12"] == pytest.approx(accuracy[twelve[-1]])
        assert row["picks"]["oracle-10"] == pytest.approx(max(accuracy[c] for c in twelve[:10]))
        assert row["picks"]["oracle-12"] > row["picks"]["oracle-10"]
        ten = scores[:10]
        assert row["picks"]["alone-10"] == pytest.approx(accuracy[twelve[int(np.flatnonzero(ten == ten.max())[0])]])
    assert widened["rules"]["alone-10"]["paired"] == 0
    with pytest.raises(SystemExit, match="keeps 10 cells, fewer than 12"):
        study.main([*argv, "--finalists", "12"])
    with pytest.raises(SystemExit):
        study.main([*argv, "--finalists", "9"])
    assert "--finalists at least 10" in capsys.readouterr().err
    # a search that kept fewer than ten cells, and a folder that holds no search, are refused
    short = tmp_path / "short"
    _write_search(short / "uniform-seed3", cells[:4], params[:4], b"supernet 3")
    with pytest.raises(SystemExit, match="keeps 4 cells, fewer than 10"):
        study.main([*argv[:-2], str(short)])
    with pytest.raises(SystemExit):
        study.main([*argv[:-2], str(tmp_path / "nothing")])
    assert "no SAMPLER-seedN/top.json there" in capsys.readouterr().err
