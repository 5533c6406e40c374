"""The end-to-end NB101 script's --smoke mode: train -> search -> judge the picks by the real table."""

import json

import pytest

from tests.tools.tool_loader import load_tool


@pytest.mark.slow
@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_smoke_run_judges_picks_against_the_table(data_dir, nb101_npz_path, tmp_path, capsys):
    e2e = load_tool("e2e_nb101")
    assert e2e.main(["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir),
                     "--table", str(nb101_npz_path)]) == 0
    report = json.loads((tmp_path / "e2e.json").read_text())
    reference = report["reference"]
    # external truth: NAS-Bench-101's mean and best test accuracy (repeat 0) over its 423,624 cells
    assert reference["random_mean"] == pytest.approx(0.8968, abs=5e-4)
    assert reference["table_best"] == pytest.approx(0.9466, abs=5e-4)
    assert 0.5 < reference["evolution_on_table"]["mean"] <= reference["table_best"]
    for sampler in ("uniform", "vae"):
        result = report["results"][sampler]["0"]
        assert 0.1 < result["top1"] <= reference["table_best"] and 0 <= result["top1_percentile"] <= 100
        assert "no operation" not in result["top1_arch"]  # search skips degenerate cells
        assert [r["step"] for r in result["rank_over_training"]] == [4, 8]  # kept checkpoints, ranked
        assert -1 <= result["rank_top"]["kendall_tau"] <= 1
    vae_config = json.loads((tmp_path / "vae-seed0" / "config.json").read_text())
    assert vae_config["epsilon_ramp"] == 0.5 and vae_config["epsilon_inc"] is None  # eps reaches 1 at half the run
    assert (tmp_path / "e2e.png").stat().st_size > 0
    assert 0.5 < reference["largest_flops_pick"]["mean"] <= reference["table_best"]
    assert "| table best | 94.66 |" in capsys.readouterr().out
    # a second invocation gathers: nothing is trained or ranked again, the figures are the same
    kept = {run: (run / e2e.EVAL_FILE).stat().st_mtime_ns for run in tmp_path.glob("*-seed0")}
    assert len(kept) == 2
    assert e2e.main(["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir),
                     "--table", str(nb101_npz_path)]) == 0
    assert {run: (run / e2e.EVAL_FILE).stat().st_mtime_ns for run in kept} == kept
    assert json.loads((tmp_path / "e2e.json").read_text())["results"] == report["results"]
    # --reuse: the same supernets searched and ranked with other scoring settings, at their final checkpoint
    lever = tmp_path / "lever"
    assert e2e.main(["--smoke", "--out", str(lever), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                     "--reuse", str(tmp_path), "--eval-examples", "64", "--bn-batches", "3", "--top-seeds", "1"]) == 0
    relinked = json.loads((lever / "e2e.json").read_text())["results"]["vae"]["0"]
    assert [r["step"] for r in relinked["rank_over_training"]] == [8] and relinked["rank_top"] is None
    assert json.loads((lever / "vae-seed0" / "top.json").read_text())["evaluation"] == {"eval_examples": 64,
                                                                                         "bn_batches": 3}
    assert (lever / "vae-seed0" / "checkpoint.pt").samefile(tmp_path / "vae-seed0" / "checkpoint.pt")
    assert "not ranked" in capsys.readouterr().out
    # --scorer: the same supernets searched and ranked by a hybrid of supernet and a zero-cost proxy
    hybrid = tmp_path / "hybrid"
    assert e2e.main(["--smoke", "--out", str(hybrid), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                     "--reuse", str(tmp_path), "--samplers", "uniform", "--scorer", "supernet+synflow",
                     "--top-seeds", "1"]) == 0
    assert json.loads((hybrid / "uniform-seed0" / "top.json").read_text())["scorer"] == "supernet+synflow"
    assert "uniform supernet scored by supernet+synflow" in capsys.readouterr().out
    # --random-cells table: the same supernets ranked over cells drawn as the table holds them, kept apart from the
    # encoding draws' ranking
    table_drawn = tmp_path / "table-drawn"
    assert e2e.main(["--smoke", "--out", str(table_drawn), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                     "--reuse", str(tmp_path), "--samplers", "uniform", "--top-seeds", "1",
                     "--random-cells", "table"]) == 0
    kept_eval = json.loads((table_drawn / "uniform-seed0" / e2e.EVAL_FILE).read_text())
    assert kept_eval["key"]["random_cells"] == "table"
    assert "tau (random table cells)" in capsys.readouterr().out
    # --rescore-top / --rescore-examples / --rescore-scorer reach search: its finalists scored again on more
    # images, by the parameter count
    rescored = tmp_path / "rescored"
    assert e2e.main(["--smoke", "--out", str(rescored), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                     "--reuse", str(tmp_path), "--samplers", "uniform", "--rescore-top", "3",
                     "--rescore-examples", "48", "--rescore-scorer", "params", "--top-seeds", "1"]) == 0
    top = json.loads((rescored / "uniform-seed0" / "top.json").read_text())
    assert top["rescored"] == {"top": 3, "eval_examples": 48, "scorer": "params"}
    # the search's own first, before the re-ordering, judged beside the pick
    own = next(entry for entry in top["top"] if entry.get("search_rank") == 1)
    table = e2e.open_table(str(nb101_npz_path), tmp_path)
    own_accuracy = table.values("test_accuracy", table.lookup_archs([tuple(own["encoding"])]), repeat=0)[0]
    assert json.loads((rescored / "e2e.json").read_text())["results"]["uniform"]["0"]["search_top1"] == own_accuracy
    assert "the search's own pick, before its finalists were scored again (n=1)" in capsys.readouterr().out
    commands = json.loads((rescored / "e2e.json").read_text())["commands"]
    assert any("--rescore-top 3 --rescore-examples 48 --rescore-scorer params" in command for command in commands)
    # the finalists trained alone, for --standalone-steps steps
    alone = tmp_path / "alone"
    assert e2e.main(["--smoke", "--out", str(alone), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                     "--reuse", str(tmp_path), "--samplers", "uniform", "--rescore-top", "2",
                     "--rescore-scorer", "standalone", "--standalone-steps", "3", "--top-seeds", "1"]) == 0
    top = json.loads((alone / "uniform-seed0" / "top.json").read_text())
    assert top["rescored"] == {"top": 2, "scorer": "standalone", "standalone_steps": 3, "standalone_downscale": 2}
    assert top["top"][0]["metrics"]["standalone_steps"] == 3
    # every kept cell judged in e2e.json, with what the search measured of it: another ordering of the
    # finalists can be judged from e2e.json alone
    kept_cells = json.loads((alone / "e2e.json").read_text())["results"]["uniform"]["0"]["kept_cells"]
    assert [cell["encoding"] for cell in kept_cells] == [entry["encoding"] for entry in top["top"]]
    assert [cell["params"] for cell in kept_cells] == [entry["params"] for entry in top["top"]]
    judged = table.values("test_accuracy", table.lookup_archs([tuple(c["encoding"]) for c in kept_cells]), repeat=0)
    assert [cell["test_accuracy"] for cell in kept_cells] == list(judged)
    assert [cell["metrics"]["standalone_accuracy"] for cell in kept_cells[:2]] == [
        entry["metrics"]["standalone_accuracy"] for entry in top["top"][:2]]
    assert all("standalone_accuracy" not in cell["metrics"] for cell in kept_cells[2:])  # only the two trained alone
    assert sorted(cell["search_rank"] for cell in kept_cells[:2]) == sorted(e["search_rank"] for e in top["top"][:2])
    for refused in (["--rescore-top", "3"], ["--rescore-top", "3", "--rescore-scorer", "flopz"],
                    ["--scorer", "flopz"], ["--rescore-top", "3", "--rescore-scorer", "standalone",
                                            "--standalone-steps", "0"]):
        with pytest.raises(SystemExit):  # refused before anything trains
            e2e.main(["--smoke", "--out", str(tmp_path / "half"), *refused])
        assert not (tmp_path / "half").exists()
    # --search-seed-offset: the same supernets searched again with another seed, which top.json records
    offset = tmp_path / "offset"
    assert e2e.main(["--smoke", "--out", str(offset), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                     "--reuse", str(tmp_path), "--samplers", "uniform", "--search-seed-offset", "100",
                     "--top-seeds", "1"]) == 0
    assert json.loads((offset / "uniform-seed0" / "top.json").read_text())["search_seed"] == 100
    assert json.loads((tmp_path / "uniform-seed0" / "top.json").read_text())["search_seed"] == 0
    with pytest.raises(SystemExit, match="searched with search_seed 100, not 0"):  # a gathered folder keeps its
        e2e.main(["--smoke", "--out", str(offset), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                  "--reuse", str(tmp_path), "--samplers", "uniform", "--top-seeds", "1"])  # searches
    with pytest.raises(SystemExit, match="searched with scorer supernet-loss\\+params, not params"):
        e2e.main(["--smoke", "--out", str(offset), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                  "--reuse", str(tmp_path), "--samplers", "uniform", "--top-seeds", "1", "--search-seed-offset",
                  "100", "--scorer", "params"])
    kept = len(json.loads((offset / "uniform-seed0" / "top.json").read_text())["top"])
    with pytest.raises(SystemExit, match=f"searched with kept {kept}, not 2"):  # --top: the cells a search keeps
        e2e.main(["--smoke", "--out", str(offset), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                  "--reuse", str(tmp_path), "--samplers", "uniform", "--top-seeds", "1", "--search-seed-offset",
                  "100", "--top", "2"])
    narrow = tmp_path / "narrow"
    assert e2e.main(["--smoke", "--out", str(narrow), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                     "--reuse", str(tmp_path), "--samplers", "uniform", "--top-seeds", "1", "--top", "2"]) == 0
    assert len(json.loads((narrow / "uniform-seed0" / "top.json").read_text())["top"]) == 2
    # the best cell kept, by the table, and its place in the search's order
    kept_cells = [tuple(e["encoding"]) for e in json.loads((offset / "uniform-seed0" / "top.json").read_text())["top"]]
    kept_accuracy = table.values("test_accuracy", table.lookup_archs(kept_cells), repeat=0)
    result = json.loads((offset / "e2e.json").read_text())["results"]["uniform"]["0"]
    assert result["best_kept"] == kept_accuracy.max() >= result["top1"]
    assert result["best_kept_rank"] == int(kept_accuracy.argmax()) + 1
    with pytest.raises(SystemExit):
        e2e.main(["--smoke", "--out", str(tmp_path / "negative"), "--search-seed-offset", "-1"])
    assert not (tmp_path / "negative").exists()
    # --compare: finished invocations side by side in one picture, one column per label
    assert e2e.main(["--out", str(tmp_path / "both"), "--compare", f"plain={tmp_path}", f"hybrid={hybrid}"]) == 0
    assert (tmp_path / "both" / "e2e.png").stat().st_size > 0
    assert "written:" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="LABEL=OUT"):
        e2e.main(["--out", str(tmp_path / "both"), "--compare", str(hybrid)])
    # OUT:SAMPLER takes one sampler's runs; a label given again gathers seeds, and refuses a seed twice
    assert e2e.main(["--out", str(tmp_path / "one"), "--compare", f"uniform={tmp_path}:uniform",
                     f"vae={tmp_path}:vae"]) == 0
    with pytest.raises(SystemExit, match="has no 'fair' runs"):
        e2e.main(["--out", str(tmp_path / "one"), "--compare", f"x={tmp_path}:fair"])
    with pytest.raises(SystemExit, match="seed 0 twice"):
        e2e.main(["--out", str(tmp_path / "one"), "--compare", f"u={tmp_path}:uniform", f"u={hybrid}"])


@pytest.mark.slow
@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_smoke_trains_and_searches_proxy_filtered_supernets(data_dir, nb101_npz_path, tmp_path):
    e2e = load_tool("e2e_nb101")
    assert e2e.main(["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                     "--samplers", "filter", "--top-seeds", "99"]) == 0
    config = json.loads((tmp_path / "filter-seed0" / "config.json").read_text())
    assert config["sampler"] == "proxy-filter"
    assert config["sampler_options"] == {"inner": "uniform", "proxy": "params", "pool": 4}
    result = json.loads((tmp_path / "e2e.json").read_text())["results"]["filter"]["0"]
    assert 0.1 < result["top1"] <= 0.9466 and result["evaluated"] > 0


@pytest.mark.parametrize("sampler", ["uniform", "fair", "vae", "filter"])
def test_each_samplers_train_flags_make_a_valid_config(sampler, tmp_path):
    from samplenas.cli import build_parser
    from samplenas.cli.train import settings_from_args
    from samplenas.training.train_config import TrainConfig

    e2e = load_tool("e2e_nb101")
    args = build_parser().parse_args(["train", "--space", "nb101", *e2e.SAMPLER_ARGS[sampler], "--steps", "1757",
                                      "--out", str(tmp_path)])
    config = TrainConfig.from_dict(settings_from_args(args)).check()
    if sampler == "vae":  # VAENAS Algorithm 2: all draws from the VAE from half the run on
        assert (config.epsilon_ramp, config.epsilon_inc, config.sampler_options) == (0.5, None, {"iters": 50})


@pytest.mark.slow
@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_smoke_trains_searches_and_ranks_ensemble_runs(data_dir, nb101_npz_path, tmp_path, capsys):
    from samplenas.training.supernet_members import member_folder

    e2e = load_tool("e2e_nb101")
    assert e2e.main(["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir), "--table", str(nb101_npz_path),
                     "--samplers", "uniform", "--members", "2", "--top-seeds", "99", "--steps", "7"]) == 0
    run = tmp_path / "uniform-seed0"
    assert json.loads((run / "config.json").read_text())["members"] == 2
    # 7 steps (not a multiple of --checkpoints: an ensemble keeps none) for two members: 4 each
    assert json.loads((member_folder(run, 1) / "config.json").read_text())["steps"] == 4
    top = json.loads((run / "top.json").read_text())
    assert top["ensemble"] == [str(member_folder(run, 0)), str(member_folder(run, 1))]
    result = json.loads((tmp_path / "e2e.json").read_text())["results"]["uniform"]["0"]
    assert [point["step"] for point in result["rank_over_training"]] == [4]  # at the end only
    assert "| uniform ensemble of 2 supernets scored by supernet-loss+params (n=1) |" in capsys.readouterr().out
    assert 0.1 < result["top1"] <= 0.9466 and result["evaluated"] > 0
    with pytest.raises(SystemExit):
        e2e.main(["--smoke", "--out", str(tmp_path / "reused"), "--reuse", str(tmp_path), "--members", "2"])
