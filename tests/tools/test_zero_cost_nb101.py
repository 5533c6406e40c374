"""The zero-cost ranking study and the proxy's ceiling, --smoke: scores judged by the real NB101 table."""

import json

import pytest

from tests.tools.tool_loader import load_tool

RANDOM_CELLS_SEED = load_tool("e2e_nb101").RANDOM_CELLS_SEED  # the studies' shared draw


@pytest.mark.slow
@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_zero_cost_study_scores_every_proxy_and_resumes(data_dir, nb101_table, tmp_path, capsys):
    study = load_tool("zero_cost_nb101")
    argv = ["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir), "--table", str(nb101_table)]
    assert study.main(argv + ["--proxies", "params", "synflow", "naswot", "--hybrid", "params+synflow"]) == 0
    report = json.loads((tmp_path / "zero_cost.json").read_text())
    assert set(report["random"]) == {"table_flops", "params", "synflow", "naswot", "params+synflow"}
    for stat in report["random"].values():
        low, high = stat["kendall_tau_ci"]
        assert -1 <= low <= stat["kendall_tau"] + 1e-9 and stat["kendall_tau"] - 1e-9 <= high <= 1
    # external truth: the table's FLOPs and our parameter count of the same cells order them alike
    assert report["random"]["table_flops"]["spearman_rho"] > 0.5 and report["random"]["params"]["spearman_rho"] > 0.5
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert len(scores["random:synflow"]) == 12 and len(scores["top:naswot"]) == 6
    assert (tmp_path / "zero_cost.png").stat().st_size > 0
    capsys.readouterr()
    assert study.main(argv + ["--proxies", "params", "synflow", "naswot", "--hybrid", "params+synflow"]) == 0
    assert json.loads((tmp_path / "zero_cost.json").read_text())["random"] == report["random"]  # cached scores
    # paired against params: its own difference is absent, the rest match the unpaired taus' difference
    assert study.main(argv + ["--proxies", "params", "synflow", "--paired-against", "params"]) == 0
    paired = json.loads((tmp_path / "zero_cost.json").read_text())["random"]
    assert "minus params" not in paired["params"]
    diff = paired["synflow"]["minus params"]
    assert diff["tau_difference"] == pytest.approx(paired["synflow"]["kendall_tau"] - paired["params"]["kendall_tau"])
    low, high = diff["tau_difference_ci"]
    assert low <= diff["tau_difference"] <= high
    assert paired["synflow"]["kendall_tau_ci"] == report["random"]["synflow"]["kendall_tau_ci"]
    assert "tau(synflow) - tau(params), paired:" in capsys.readouterr().out
    # the cached scores are tied to the proxies' settings: another minibatch size in the same folder is refused
    kept = (tmp_path / "scores.json").read_text()
    assert json.loads(kept)["settings"]["params"]["batch_size"] == 16
    with pytest.raises(SystemExit, match="holds scores of 'params' made with .*use another --out"):
        study.main(argv + ["--proxies", "params", "--batch-size", "8"])
    assert (tmp_path / "scores.json").read_text() == kept


@pytest.mark.full_data("nb101")
def test_random_cells_from_the_table_are_the_tables_kind_of_cells(data_dir, nb101_table, tmp_path):
    """Encoding draws prune mostly to small cells; `--random-cells table` draws as the table holds them (85 % with
    seven vertices)."""
    import numpy as np

    from samplenas.spaces import SPACES
    from samplenas.training.rank import distinct_uniform

    study = load_tool("zero_cost_nb101")
    argv = ["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir), "--table", str(nb101_table),
            "--proxies", "params", "--top-sample", "0", "--cells", "40"]
    assert study.main(argv + ["--random-cells", "table"]) == 0
    assert json.loads((tmp_path / "zero_cost.json").read_text())["random_cells"] == "table"
    space = SPACES["nb101"]()
    by_table = distinct_uniform(SPACES["nb101"](table=str(nb101_table)), 40,
                                np.random.default_rng(RANDOM_CELLS_SEED))
    assert set(json.loads((tmp_path / "scores.json").read_text())["random:params"]) == {space.key(a) for a in by_table}
    by_encodings = distinct_uniform(space, 40, np.random.default_rng(RANDOM_CELLS_SEED))
    seven = [sum(len(space.decode(a).ops) == 7 for a in cells) for cells in (by_table, by_encodings)]
    assert seven[0] >= 28 and seven[1] <= 8, seven


def test_expected_pick_is_exact_over_every_draw_of_cells():
    import numpy as np

    study = load_tool("zero_cost_nb101")
    rng = np.random.default_rng(0)
    scores, accuracy = rng.normal(size=12), rng.uniform(0.8, 0.95, size=12)
    assert study.expected_pick(scores, accuracy, 1) == pytest.approx(accuracy.mean())  # one cell: any cell
    assert study.expected_pick(scores, accuracy, 12) == pytest.approx(accuracy[np.argmax(scores)])  # all: the pick
    assert study.expected_pick(scores, accuracy, 50) == pytest.approx(accuracy[np.argmax(scores)])
    import itertools

    draws = [accuracy[list(c)][np.argmax(scores[list(c)])] for c in itertools.combinations(range(12), 4)]
    assert study.expected_pick(scores, accuracy, 4) == pytest.approx(np.mean(draws))  # every draw of 4 cells
    tied = np.array([1.0, 1.0, 0.0, np.nan])  # two cells share the best score: the pick is either alike
    assert study.expected_pick(tied, np.array([0.9, 0.8, 0.7, 0.99]), 4) == pytest.approx(0.85)
    report = study.pick_bootstrap(scores, accuracy, 4, np.random.default_rng(1), resamples=50, reference=-scores)
    low, high = report["expected_pick_ci"]
    assert low <= report["expected_pick"] <= high
    assert report["expected_pick_difference"] == pytest.approx(
        report["expected_pick"] - study.expected_pick(-scores, accuracy, 4))


@pytest.mark.slow
@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_learned_combination_is_fitted_on_landmarks_and_judged_without_them(data_dir, nb101_table, tmp_path, capsys):
    import numpy as np

    from samplenas.spaces import SPACES
    from samplenas.training.rank import distinct_uniform

    study = load_tool("zero_cost_nb101")
    space = SPACES["nb101"]()
    judged = distinct_uniform(space, 12, np.random.default_rng(RANDOM_CELLS_SEED))  # the smoke's random cells
    landmarks = [*judged[:2], *distinct_uniform(space, 6, np.random.default_rng(99))]
    path = tmp_path / "landmarks.jsonl"
    path.write_text("".join(json.dumps({"arch": list(arch)}) + "\n" for arch in landmarks))
    argv = ["--smoke", "--out", str(tmp_path / "out"), "--data-dir", str(data_dir), "--table", str(nb101_table),
            "--proxies", "params", "synflow", "--landmarks", str(path), "--landmark-label", "table",
            "--learned", "params+synflow"]
    assert study.main(argv + ["--curve", "synflow+params", "--hybrid", "0.25*synflow+0.75*params"]) == 0
    curve = json.loads((tmp_path / "out" / "zero_cost.json").read_text())["curve"]
    assert curve["weights"][0] == 0.0 and curve["weights"][-1] == 1.0 and len(curve["weights"]) == 21
    assert (tmp_path / "out" / "curve.png").stat().st_size > 0
    report = json.loads((tmp_path / "out" / "zero_cost.json").read_text())  # w = 0 is params alone, 1 synflow alone
    assert curve["kendall_tau"][0] == pytest.approx(report["random"]["params"]["kendall_tau"])
    assert curve["kendall_tau"][-1] == pytest.approx(report["random"]["synflow"]["kendall_tau"])
    assert curve["kendall_tau"][5] == pytest.approx(report["random"]["0.25*synflow+0.75*params"]["kendall_tau"])
    assert study.main(argv) == 0
    report = json.loads((tmp_path / "out" / "zero_cost.json").read_text())
    fitted = report["learned"]["learned:params+synflow"]
    assert fitted["landmarks"] == 8 and fitted["label"] == "table" and -1 <= fitted["landmark_value"] <= 1
    assert fitted["objective"] == "kendall" and -1 <= report["random"]["params"]["weighted_tau"] <= 1
    assert sum(fitted["weights"].values()) == pytest.approx(1.0) and set(fitted["weights"]) == {"params", "synflow"}
    assert report["cells"] == 10  # the two landmarks among the random cells are not judged
    assert "learned:params+synflow" in report["random"] and "learned:params+synflow: weights" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="'naswot', which is not scored here"):
        study.main(argv + ["--hybrid", "0.5*params+0.5*naswot"])
    path.write_text('{"arch": [1, 2]}\n')
    with pytest.raises(SystemExit, match="is not a cell with 'val_accuracy'"):
        study.main(argv[:-4] + ["--learned", "params+synflow"])


@pytest.mark.slow
@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_detrended_supernet_scorers_take_out_the_trend_search_would_fit(data_dir, nb101_table, tmp_path, capsys):
    import numpy as np

    from samplenas.cli import main
    from samplenas.spaces import SPACES
    from samplenas.training.rank import distinct_uniform
    from samplenas.training.scorers import operation_trend, reference_cells
    from samplenas.training.supernet_run import open_run

    run = tmp_path / "run"
    network = json.dumps({"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1})
    assert main(["train", "--space", "nb101", "--sampler", "uniform", "--data", "digits", "--data-dir", str(data_dir),
                 "--network", network, "--steps", "4", "--batch-size", "64", "--eval-every", "4", "--eval-archs", "1",
                 "--eval-examples", "64", "--bn-batches", "1", "--out", str(run), "--quiet"]) == 0
    study = load_tool("zero_cost_nb101")
    argv = ["--smoke", "--out", str(tmp_path / "out"), "--data-dir", str(data_dir), "--table", str(nb101_table),
            "--proxies", "params", "--top-sample", "0", "--run", f"tiny={run}",
            "--hybrid", "supernet-loss-detrended:tiny+params", "--paired-against", "supernet-loss:tiny"]
    assert study.main(argv) == 0
    report = json.loads((tmp_path / "out" / "zero_cost.json").read_text())
    space = SPACES["nb101"]()
    trainer = open_run(run)
    cells = reference_cells(space, seed=0)  # what `samplenas search` (seed 0) fits the trend over
    counts = [space.operation_count(arch) for arch in cells]
    trend = operation_trend(counts, [-trainer.score(arch)["loss"] for arch in cells])
    assert report["trends"]["supernet-loss-detrended:tiny"] == pytest.approx(trend)
    judged = distinct_uniform(space, 12, np.random.default_rng(RANDOM_CELLS_SEED))
    expected = [-trainer.score(arch)["loss"] - trend * space.operation_count(arch) for arch in judged]
    from scipy.stats import kendalltau

    table = study.open_table(str(nb101_table), tmp_path / "out")
    accuracy = table.values("test_accuracy", table.lookup_archs(judged), repeat=0)
    assert report["random"]["supernet-loss-detrended:tiny"]["kendall_tau"] == pytest.approx(
        kendalltau(expected, accuracy)[0])
    assert {"supernet-detrended:tiny", "supernet-loss-detrended:tiny+params"} <= set(report["random"])
    # scored on other validation images, or another run under the same name, the cached scores are not reused
    with pytest.raises(SystemExit, match="holds scores of 'supernet:tiny' made with"):
        study.main(argv + ["--eval-examples", "32"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").symlink_to(run / "config.json")
    (other / "checkpoint.pt").symlink_to(run / "checkpoint.pt")
    with pytest.raises(SystemExit, match="holds scores of 'supernet:tiny' made with"):
        study.main([*argv[:argv.index("--run") + 1], f"tiny={other}", *argv[argv.index("--run") + 2:]])


@pytest.mark.slow
@pytest.mark.full_data("nb101")
def test_ceiling_trains_table_drawn_cells_when_asked(data_dir, nb101_table, tmp_path):
    ceiling = load_tool("ceiling_nb101")
    argv = ["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir), "--table", str(nb101_table), "--steps", "1",
            "--random-cells", "table"]
    assert ceiling.main(argv) == 0
    trained = [tuple(json.loads(line)["arch"]) for line in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert trained == load_tool("e2e_nb101").draw_random_cells(4, "table", str(nb101_table))
    assert json.loads((tmp_path / "ceiling.json").read_text())["random_cells"] == "table"


@pytest.mark.full_data("nb101")  # judged on cells of the whole space
def test_ceiling_trains_cells_standalone_and_resumes(data_dir, nb101_table, tmp_path, capsys):
    ceiling = load_tool("ceiling_nb101")
    argv = ["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir), "--table", str(nb101_table)]
    assert ceiling.main(argv) == 0
    lines = (tmp_path / "cells.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(0 <= json.loads(line)["val_accuracy"] <= 1 for line in lines)
    assert "4 of 4 cells already trained" not in capsys.readouterr().out
    report = json.loads((tmp_path / "ceiling.json").read_text())
    assert {"params", "with_params"} <= set(report) and -1 <= report["with_params"]["kendall_tau"] <= 1
    # records written before --lr and --inherit existed (from scratch at lr 0.1) still count as trained
    old = []
    for line in lines:
        record = json.loads(line)
        assert (record["settings"].pop("lr"), record["settings"].pop("inherit")) == (0.1, None)
        old.append(json.dumps(record))
    (tmp_path / "cells.jsonl").write_text("\n".join(old) + "\n")
    assert ceiling.main(argv) == 0
    assert "4 of 4 cells already trained; training 0" in capsys.readouterr().out
    resumed = json.loads((tmp_path / "ceiling.json").read_text())
    # the cells' training time counts every invocation, not only the last one (which trained nothing)
    assert resumed["cell_seconds"] == report["cell_seconds"] == round(sum(json.loads(x)["seconds"] for x in lines), 1)
    assert (tmp_path / "cells.jsonl").read_text().splitlines() == old
    # paired against another run of the same cells: itself differs by exactly 0; one cell short is refused
    other = tmp_path / "other"
    other.mkdir()
    (other / "cells.jsonl").write_text("\n".join(old) + "\n")
    assert ceiling.main(argv + ["--paired-against", str(other)]) == 0
    paired = json.loads((tmp_path / "ceiling.json").read_text())["paired_against"]
    assert paired["tau_difference"] == 0 and paired["tau_difference_ci"] == [0, 0]
    (other / "cells.jsonl").write_text("\n".join(old[:3]) + "\n")
    with pytest.raises(SystemExit, match="lacks 1 of these 4 cells"):
        ceiling.main(argv + ["--paired-against", str(other)])
    # records from before --lr / --inherit and after them, of the same recipe, are one run; another lr is not
    (other / "cells.jsonl").write_text("\n".join(old[:2] + lines[2:]) + "\n")
    assert ceiling.main(argv + ["--paired-against", str(other)]) == 0
    changed = json.loads(lines[3])
    changed["settings"]["lr"] = 0.05
    (other / "cells.jsonl").write_text("\n".join(old[:2] + lines[2:3] + [json.dumps(changed)]) + "\n")
    with pytest.raises(SystemExit, match="mixes 2 recipes"):
        ceiling.main(argv + ["--paired-against", str(other)])


@pytest.mark.slow
@pytest.mark.full_data("nb101")
def test_ceiling_inherits_a_runs_shared_weights(data_dir, nb101_table, tmp_path, capsys):
    """--inherit starts each cell from the run's supernet: at a vanishing learning rate a cell scores as the
    supernet scores it."""
    from samplenas.cli import main
    from samplenas.training.supernet_run import open_run

    run = tmp_path / "run"
    network = json.dumps({"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1})
    assert main(["train", "--space", "nb101", "--sampler", "uniform", "--data", "digits", "--data-dir", str(data_dir),
                 "--network", network, "--steps", "4", "--batch-size", "64", "--eval-every", "4", "--eval-archs", "1",
                 "--eval-examples", "64", "--bn-batches", "1", "--seed", "3", "--out", str(run), "--quiet"]) == 0
    ceiling = load_tool("ceiling_nb101")
    argv = ["--smoke", "--table", str(nb101_table), "--steps", "1"]
    out = tmp_path / "ft"
    assert ceiling.main(argv + ["--out", str(out), "--inherit", str(run), "--lr", "1e-12"]) == 0
    assert "seed 3, lr 1e-12" in capsys.readouterr().out  # the run's seed: its validation split
    records = [json.loads(line) for line in (out / "cells.jsonl").read_text().splitlines()]
    trainer = open_run(run, evaluation={"eval_examples": 64, "bn_batches": 1})
    for record in records:
        assert record["settings"]["inherit"] == str(run.resolve()) and record["settings"]["seed"] == 3
        assert record["val_accuracy"] == trainer.score(tuple(record["arch"]))["score"]


@pytest.mark.slow
@pytest.mark.full_data("nb101")
def test_ceiling_trains_and_scores_at_a_reduced_resolution(data_dir, nb101_table, tmp_path, capsys):
    """--image-size resizes the images for training and scoring alike, and is a recipe of its own: cells trained
    at the native size are not taken for it on resuming."""
    from samplenas.supernet.factory import make_supernet, network_settings

    ceiling = load_tool("ceiling_nb101")
    argv = ["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir), "--table", str(nb101_table), "--steps", "1"]
    assert ceiling.main(argv) == 0
    assert ceiling.main(argv + ["--image-size", "4"]) == 0
    assert "0 of 4 cells already trained; training 4" in capsys.readouterr().out.split("standalone training")[-2]
    records = [json.loads(line) for line in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert ["image_size" in record["settings"] for record in records] == [False] * 4 + [True] * 4
    settings = records[4]["settings"]
    assert settings["image_size"] == 4

    def network(recipe, data):
        return make_supernet("nb101", network_settings("nb101", recipe.network, data.info)).build(
            tuple(records[4]["arch"]))

    _, data, _, _ = ceiling.fit(settings, network)
    assert data.info.image_size == 4  # the digits' own 8x8 shrunk, in training and in scoring
    assert data.train.batch([0, 1])[0].shape[-1] == data.val.batch([0])[0].shape[-1] == 4


def test_ceiling_refuses_bad_input_in_one_line(tmp_path, capsys):
    ceiling = load_tool("ceiling_nb101")
    for bad, message in ((["--lr", "0"], "--lr must be positive"),
                         (["--inherit", str(tmp_path)], "not a trained run (no config.json)"),
                         (["--paired-against", str(tmp_path)], "no cells.jsonl there"),
                         (["--image-size", "2"], "--image-size must be >= 4")):
        with pytest.raises(SystemExit) as exited:
            ceiling.main(["--smoke", "--out", str(tmp_path / "out"), *bad])
        assert exited.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
