"""The Deep-n-Cheap driver on Ray (the session's `ray_local`): penalties, exact resume, transfer."""

from __future__ import annotations

import json

import pytest

from samplenas.errors import UserError
from samplenas.population import dnc_space as ds
from samplenas.population.dnc import LOG, RESULT, DncSearch, objective
from samplenas.population.dnc_settings import DncSettings

TINY = dict(model="mlp", data="digits", epochs=1, evaluations=3, pool=40, widths=[20, 60],
            mlp_drop_probs=[0.0, 0.2])


def test_objective_is_error_plus_weighted_normalised_cost():
    assert objective(0.9, 5.0, 10.0, 0.0) == pytest.approx(0.1)
    assert objective(0.9, 5.0, 10.0, 0.1) == pytest.approx(0.1 + 0.05)
    assert objective(0.9, 5.0, 10.0, 1.0) - objective(0.9, 5.0, 10.0, 0.1) == pytest.approx(0.9 * 0.5)
    assert objective(0.9, 20.0, 10.0, 1.0) == pytest.approx(0.1 + 2.0)


def _keys(result: dict) -> dict:
    return {stage: [e["key"] for e in entries] for stage, entries in result["history"].items()}


@pytest.fixture(scope="module")
def params_run(tmp_path_factory, ray_local):
    out = tmp_path_factory.mktemp("dnc") / "full"
    s = DncSettings(**TINY, penalty="params", cost_weight=0.5)
    return out, DncSearch(s, out, progress=False).run()


def test_params_penalty_scales_by_the_largest_network(params_run):
    out, result = params_run
    largest = 64 * 60 + 60 + 60 * 60 + 60 + 60 * 10 + 10  # two hidden layers of the most nodes, digits 8x8
    assert result["c0"]["value"] == largest
    entries = [e for stage in result["history"].values() for e in stage]
    assert len(entries) >= 3 + 3
    for e in entries:
        assert e["f"] == pytest.approx(1 - e["val_acc"] + 0.5 * e["params"] / largest)
    # stage 3 ends at its best evaluation or at stage 2's incumbent (a known point of its space)
    assert result["best"] == min(result["history"]["3"] + [result["stages"]["2"]["best"]], key=lambda e: e["f"])
    assert result["stages"]["3"]["evaluations"] == 3 and result["stages"]["3"]["incumbent_from_stage2"]
    # every stage's best is a real evaluation of that stage, and stage 2 starts from stage 1's best
    assert result["stages"]["1"]["best"] == min(result["history"]["1"], key=lambda e: e["f"])
    assert result["stages"]["2"]["best"]["f"] <= result["stages"]["1"]["best"]["f"]
    assert all(ds.DncNet.from_dict(e["net"]).widths == ds.DncNet.from_dict(result["stages"]["2"]["best"]["net"]).widths
               for e in result["history"]["3"])
    json.loads((out / RESULT).read_text(), parse_constant=lambda t: pytest.fail(f"non-strict JSON {t}"))
    assert (out / "objective.png").stat().st_size > 0
    assert len((out / LOG).read_text().splitlines()) == len({e["key"] for e in entries})


def test_resume_is_exact_and_trains_nothing_twice(params_run, tmp_path, ray_local):
    _, full = params_run
    s = DncSettings(**TINY, penalty="params", cost_weight=0.5)
    out = tmp_path / "resumed"
    assert DncSearch(s, out, progress=False, stop_after=4).run() is None
    before = len((out / LOG).read_text().splitlines())
    assert before == 4  # stage 1 (2 Sobol + 1 EI) and stage 2's one new grid point; stage 3's batch would pass 4
    with pytest.raises(UserError, match="already holds"):
        DncSearch(s, out, progress=False)
    resumed = DncSearch(None, out, resume=True, progress=False).run()
    assert _keys(resumed) == _keys(full)
    for a, b in zip(resumed["history"]["3"], full["history"]["3"]):
        assert (a["f"], a["val_acc"], a["hyper"]) == (b["f"], b["val_acc"], b["hyper"])
    assert resumed["cache"]["new_evaluations"] == len((out / LOG).read_text().splitlines()) - before > 0
    with pytest.raises(UserError, match="settings differ"):
        DncSearch(DncSettings(**{**TINY, "seed": 5}), out, resume=True)


def test_time_penalty_uses_measured_t_tr_and_transfer_redoes_stage3(params_run, tmp_path, ray_local):
    source, _ = params_run
    s = DncSettings(**{**TINY, "evaluations": 2}, penalty="time", cost_weight=1.0)
    result = DncSearch(s, tmp_path / "t", transfer=source, progress=False).run()
    assert result["stages"]["1"]["transferred_from"] == str(source)
    assert result["history"]["1"] == [] and result["history"]["2"] == []
    c0 = result["c0"]["value"]
    assert c0 > 0 and result["c0"]["unit"] == "seconds per epoch"
    for e in result["history"]["3"]:
        assert e["t_tr"] > 0
        assert e["f"] == pytest.approx(1 - e["val_acc"] + e["t_tr"] / c0)
        assert e["net"] == result["stages"]["2"]["best"]["net"]
    with pytest.raises(UserError, match="not cnn"):
        DncSearch(DncSettings(model="cnn", epochs=1), tmp_path / "x", transfer=source)


def test_a_finished_run_resumed_says_it_is_done_and_changes_no_file(params_run, capsys):
    out, full = params_run
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    again = DncSearch(None, out, resume=True, progress=False).run()
    assert again == json.loads((out / RESULT).read_text()) and again["best"] == full["best"]
    assert capsys.readouterr().err.strip() == f"samplenas: {out} holds a finished DnC run: nothing left to do"
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
