"""Train a tiny supernet of every space through the CLI, then search it (and rank an nb101 one)."""

import json

import numpy as np
import pytest

from samplenas.cli import main
from samplenas.errors import UserError
from samplenas.spaces import SPACES
from samplenas.training.search import SearchConfig, SupernetSearch
from samplenas.training.supernet_run import open_run

TINY = {
    "nb101": ({"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1},
              ["--sampler", "vae", "--epsilon-inc", "0.25", "--sampler-options", '{"iters": 3, "hidden_dim": 8}']),
    "nasnet": ({"C": 4, "layers": 3}, ["--sampler", "fair"]),
    "shufflenet": ({"stage_channels": [8, 16, 24, 32], "stem_channels": 4, "last_channels": 16},
                   ["--sampler", "gumbel", "--mode", "gradient"]),
    "autoencoder": ({"max_layers": 3}, ["--sampler", "evolution", "--task", "denoising",
                                        "--sampler-options", '{"population_size": 2}']),
}


def train_tiny(space: str, out, steps: int = 4) -> None:
    network, sampler_args = TINY[space]
    code = main(["train", "--space", space, *sampler_args, "--out", str(out), "--steps", str(steps),
                 "--batch-size", "8", "--eval-every", "2", "--eval-archs", "2", "--eval-examples", "16",
                 "--bn-batches", "1", "--network", json.dumps(network), "--quiet"])
    assert code == 0


@pytest.fixture(scope="module")
def nb101_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("nb101_run")
    train_tiny("nb101", run, steps=6)
    return run


@pytest.mark.slow
@pytest.mark.parametrize("space", sorted(TINY))
def test_train_then_search_every_space(space, tmp_path, capsys):
    train_tiny(space, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["last_evaluation"]["step"] == 4
    assert main(["search", "--run", str(tmp_path), "--population", "3", "--generations", "1", "--children", "2",
                 "--top", "3", "--quiet"]) == 0
    top = json.loads((tmp_path / "top.json").read_text())
    assert top["space"] == space and top["evaluated"] == 5 and len(top["top"]) == 3
    assert top["scorer"] == ("supernet-loss+params" if space == "nb101" else "supernet")  # the measured defaults
    if space == "nb101":  # and its measured second scoring: the ten best (here all five) trained alone, at half
        assert top["rescored"] == {"top": 10, "eval_examples": 2000, "scorer": "standalone",  # the image side
                                   "standalone_steps": 600, "standalone_downscale": 2}
        assert {entry["metrics"]["standalone_image_size"] for entry in top["top"]} == {4}  # the digits' 8 halved
        assert all(entry["score"] == entry["metrics"]["standalone_accuracy"] for entry in top["top"])
        assert {entry["search_rank"] for entry in top["top"]} <= {1, 2, 3, 4, 5}  # the search's own order kept
    else:
        assert "rescored" not in top
    objectives = [entry["objective"] for entry in top["top"]]
    assert objectives == sorted(objectives)
    for entry in top["top"]:
        assert tuple(entry["encoding"]) == open_run(tmp_path).space.parse(entry["arch"])
        assert entry["params"] > 0 and entry["score"] > 0
    printed = capsys.readouterr().out
    assert "written:" in printed
    assert ("nb101's default; --rescore-top 0: none" in printed) == (space == "nb101")  # says why it trained more


def test_search_seeds_from_the_learned_sampler_and_respects_limits(nb101_run):
    trainer = open_run(nb101_run)
    assert trainer.sampler.name == "mixture" and trainer.sampler.inner.rounds > 0  # the VAE was trained
    expected_seeds = open_run(nb101_run).sampler.inner.sample(4)  # same state, same draws
    searcher = SupernetSearch(trainer, SearchConfig(population=4, generations=1, children=3, top=7), progress=False)
    assert searcher.evolution.init_archs == expected_seeds  # Algorithm 2 line 13: seeds from p_theta
    unconstrained = searcher.run()
    limit = sorted(entry["params"] for entry in unconstrained)[len(unconstrained) // 2]
    limited = SupernetSearch(open_run(nb101_run), SearchConfig(population=4, generations=1, children=3, top=7,
                                                               max_params=limit), progress=False).run()
    assert limited and all(entry["params"] <= limit for entry in limited)


def test_search_with_no_generations_scores_the_initial_population_alone(nb101_run, capsys):
    """--generations 0: a random search over the sampler's draws (the weight-sharing random-search baseline)."""
    assert main(["search", "--run", str(nb101_run), "--population", "5", "--generations", "0", "--top", "9",
                 "--quiet"]) == 0
    report = json.loads((nb101_run / "top.json").read_text())
    expected = {open_run(nb101_run).space.key(arch) for arch in open_run(nb101_run).sampler.inner.sample(5)}
    assert report["evaluated"] == 5 and [g["generation"] for g in report["generations"]] == [0]
    assert {entry["key"] for entry in report["top"]} <= expected and len(report["top"]) == 5
    assert main(["search", "--run", str(nb101_run), "--generations", "-1", "--quiet"]) == 2
    assert "--generations must be >= 0" in capsys.readouterr().err


def test_cost_penalty_follows_deep_n_cheap(nb101_run):
    config = SearchConfig(population=4, generations=0, cost_weight=0.5, cost_metric="macs", top=4, scorer="supernet")
    searcher = SupernetSearch(open_run(nb101_run), config, progress=False)
    top = searcher.run()
    reference = max(entry["macs"] for entry in top)  # c0 = the largest cost of the initial population
    assert searcher.cost_ref == reference
    for entry in top:
        expected = (1 - entry["metrics"]["accuracy"]) + 0.5 * entry["macs"] / reference
        assert entry["objective"] == pytest.approx(expected)


def test_search_scores_a_given_architecture_consistently(nb101_run, capsys):
    space = SPACES["nb101"]()
    arch = space.to_str(space.sample_uniform(np.random.default_rng(0)))
    assert main(["search", "--run", str(nb101_run), "--arch", arch]) == 0
    first = capsys.readouterr().out
    assert main(["search", "--run", str(nb101_run), "--arch", arch]) == 0
    assert capsys.readouterr().out == first and first.startswith("score ")


@pytest.mark.full_data("nb101")  # ranks cells drawn from the whole space
def test_rank_against_the_table(nb101_run, nb101_table, capsys):
    assert main(["rank", "--run", str(nb101_run), "--table", str(nb101_table), "--n", "8", "--quiet"]) == 0
    report = json.loads((nb101_run / "rank.json").read_text())
    assert report["n"] == 8 and len({c["arch"] for c in report["cells"]}) == 8
    assert -1.0 <= report["kendall_tau"] <= 1.0 and -1.0 <= report["spearman_rho"] <= 1.0
    assert all(0.0 < c["test_accuracy"] < 1.0 for c in report["cells"])
    assert "Kendall tau" in capsys.readouterr().out


@pytest.mark.full_data("nb101")  # ranks cells drawn from the whole space
def test_scoring_can_use_more_images_and_calibration_than_training_did(nb101_run, nb101_table, capsys):
    """--eval-examples / --bn-batches change how search and rank score, are reported, and keep the run's
    settings by default; an unknown override is refused."""
    arch = SPACES["nb101"]().to_str(open_run(nb101_run).space.sample_uniform(np.random.default_rng(3)))
    assert main(["search", "--run", str(nb101_run), "--arch", arch]) == 0
    default = capsys.readouterr().out
    assert main(["search", "--run", str(nb101_run), "--arch", arch, "--eval-examples", "64", "--bn-batches", "3"]) == 0
    assert capsys.readouterr().out != default
    assert main(["rank", "--run", str(nb101_run), "--table", str(nb101_table), "--n", "4", "--quiet",
                 "--eval-examples", "48"]) == 0
    assert json.loads((nb101_run / "rank.json").read_text())["evaluation"] == {"eval_examples": 48, "bn_batches": 1}
    trainer = open_run(nb101_run, evaluation={"eval_examples": None, "bn_batches": 0})
    assert (trainer.config.eval_examples, trainer.config.bn_batches, trainer.calibration) == (16, 0, [])
    with pytest.raises(UserError, match="cannot override 'lr'"):
        open_run(nb101_run, evaluation={"lr": 1.0})
    assert main(["rank", "--run", str(nb101_run), "--table", str(nb101_table), "--bn-batches", "-1"]) == 2


def test_supernet_loss_scores_minus_the_validation_loss_and_search_minimises_that_loss(nb101_run):
    from samplenas.training.scorers import RunScorer

    trainer = open_run(nb101_run)
    arch = trainer.space.sample_uniform(np.random.default_rng(3))
    by_loss = RunScorer(trainer, "supernet-loss").score(arch)
    assert by_loss == {**trainer.score(arch), "score": -trainer.score(arch)["loss"]}
    hybrid = RunScorer(trainer, "supernet-loss+params", reference=8).score(arch)
    assert hybrid["supernet_loss"] == by_loss["loss"] and 0.0 <= hybrid["score"] <= 1.0
    search = SupernetSearch(trainer, SearchConfig(population=2, generations=0, scorer="supernet-loss"), progress=False)
    assert search.objective(by_loss, None) == pytest.approx(by_loss["loss"])
    calls = []
    score = trainer.score
    trainer.score = lambda a: calls.append(a) or score(a)
    both = RunScorer(trainer, "supernet+supernet-loss", reference=4)
    assert len(calls) == 4  # the reference cells: one supernet evaluation each for both parts
    assert both.score(arch)["supernet_loss"] == by_loss["loss"] and len(calls) == 5


def test_rescoring_orders_the_finalists_by_a_second_score_on_more_images(nb101_run, capsys):
    """--rescore-top K --rescore-examples N: the best K of the search are scored again by the same scorer on N
    validation images (its reference sample too), rank first by that score and keep the search's own."""
    from samplenas.training.scorers import RunScorer

    args = ["search", "--run", str(nb101_run), "--population", "4", "--generations", "1", "--top", "6",
            "--scorer", "supernet-loss+params", "--quiet"]
    assert main([*args, "--rescore-top", "0"]) == 0  # no second scoring, not even the space's default
    plain = json.loads((nb101_run / "top.json").read_text())
    assert "rescored" not in plain and all("search_score" not in entry for entry in plain["top"])
    assert main([*args, "--rescore-top", "3", "--rescore-examples", "48"]) == 0
    assert "scored again (by supernet-loss+params, on up to 48 validation images)" in capsys.readouterr().out
    report = json.loads((nb101_run / "top.json").read_text())
    assert report["rescored"] == {"top": 3, "eval_examples": 48}
    finalists, rest = report["top"][:3], report["top"][3:]
    # the finalists are the search's best three, by its own score ...
    assert sorted(e["search_score"] for e in finalists) == sorted(e["score"] for e in plain["top"][:3])
    assert all("search_score" not in entry for entry in rest) and [e["key"] for e in rest] == [
        e["key"] for e in plain["top"][3:]]
    # ... scored again exactly as a scorer on 48 images scores them, and ordered by that score
    finer = RunScorer(open_run(nb101_run, evaluation={"eval_examples": 48}), "supernet-loss+params")
    again = [finer.score(tuple(entry["encoding"]))["score"] for entry in finalists]
    assert again == [entry["score"] for entry in finalists]  # bitwise: the view scores as the run opened again
    assert again == sorted(again, reverse=True)
    assert finalists[0]["metrics"]["supernet_examples"] == 48
    for bad in (["--rescore-top", "2"], ["--rescore-examples", "48"],
                ["--rescore-top", "-1", "--rescore-examples", "4"],
                ["--rescore-top", "2", "--rescore-examples", "48", "--pareto"]):
        assert main([*args, *bad]) == 2
        assert "rescore" in capsys.readouterr().err


def test_a_view_on_more_images_scores_exactly_as_the_run_opened_again(nb101_run):
    """with_eval_examples shares the supernet and data and scores bitwise as open_run with that many examples
    would; the trainer it came from keeps scoring on its own examples."""
    trainer = open_run(nb101_run)
    view = trainer.with_eval_examples(48)
    assert view.supernet is trainer.supernet and view.data is trainer.data
    assert (view.config.eval_examples, trainer.config.eval_examples) == (48, open_run(nb101_run).config.eval_examples)
    reopened, fresh = open_run(nb101_run, evaluation={"eval_examples": 48}), open_run(nb101_run)
    rng = np.random.default_rng(5)
    for arch in (trainer.space.sample_uniform(rng) for _ in range(3)):
        assert view.score(arch) == reopened.score(arch)
        assert trainer.score(arch) == fresh.score(arch)  # interleaved: the shared BN is recalibrated each time
        assert view.score(arch)["examples"] == 48


def test_the_space_s_default_second_scoring_applies_unless_one_is_chosen():
    """No rescore_top: the space's default (NB101: the ten best trained alone on 2,000 images; elsewhere none);
    rescore_top 0 or an explicit second scoring are kept as given; half a choice is refused."""
    filled = SearchConfig().check().for_space("nb101")
    assert (filled.rescore_top, filled.rescore_examples, filled.rescore_scorer) == (10, 2000, "standalone")
    assert SearchConfig().check().for_space("nasnet").rescore_top == 0
    assert SearchConfig(rescore_top=0).check().for_space("nb101").rescore_top == 0
    chosen = SearchConfig(rescore_top=3, rescore_scorer="params").check().for_space("nb101")
    assert (chosen.rescore_top, chosen.rescore_examples, chosen.rescore_scorer) == (3, None, "params")
    for half in ({"rescore_scorer": "params"}, {"rescore_examples": 100}, {"rescore_top": 4}):
        with pytest.raises(UserError, match="rescore"):
            SearchConfig(**half).check()


def test_rescoring_by_params_takes_the_largest_of_the_search_s_best(nb101_run, capsys):
    """--rescore-top K --rescore-scorer params: the search's best K, by its own score, re-ordered by their
    parameter count (ties in the search's order); the search's metrics stay beside the new score."""
    args = ["search", "--run", str(nb101_run), "--population", "6", "--generations", "1", "--top", "8",
            "--scorer", "supernet-loss", "--seed", "2", "--quiet"]
    assert main([*args, "--rescore-top", "0"]) == 0
    plain = json.loads((nb101_run / "top.json").read_text())["top"]
    assert main([*args, "--rescore-top", "5", "--rescore-scorer", "params"]) == 0
    assert "scored again (by params)" in capsys.readouterr().out
    report = json.loads((nb101_run / "top.json").read_text())
    assert report["rescored"] == {"top": 5, "scorer": "params"}
    finalists = report["top"][:5]
    expected = sorted(plain[:5], key=lambda entry: -entry["params"])  # stable: ties keep the search's order
    assert [e["key"] for e in expected] != [e["key"] for e in plain[:5]]  # the re-ordering shows
    assert [e["key"] for e in finalists] == [e["key"] for e in expected]
    assert [e["score"] for e in finalists] == [e["params"] for e in expected]
    assert [e["search_score"] for e in finalists] == [e["score"] for e in expected]
    assert [plain[e["search_rank"] - 1]["key"] for e in finalists] == [e["key"] for e in finalists]
    assert all("loss" in e["metrics"] and "params" in e["metrics"] for e in finalists)
    assert [e["key"] for e in report["top"][5:]] == [e["key"] for e in plain[5:]]
    assert main([*args, "--rescore-top", "5", "--rescore-scorer", "flopz"]) == 2
    assert "unknown scorer 'flopz'" in capsys.readouterr().err


def test_operation_trend_is_the_least_squares_slope_and_zero_for_equal_counts():
    from samplenas.training.scorers import operation_trend

    assert operation_trend([1, 2, 3, 4], [5.0, 3.0, 1.0, -1.0]) == pytest.approx(-2.0)
    assert operation_trend([1, 2, 3], [0.0, 1.0, 5.0]) == pytest.approx(2.5)
    assert operation_trend([4, 4, 4], [0.1, 0.9, 0.5]) == 0.0  # a space of fixed size: nothing to take out


def test_detrended_supernet_parts_take_out_the_trend_fitted_over_the_reference_cells(nb101_run):
    from samplenas.training.scorers import RunScorer, operation_trend, reference_cells

    trainer = open_run(nb101_run)
    space = trainer.space
    cells = reference_cells(space, 8, seed=0)
    counts = [space.operation_count(arch) for arch in cells]
    assert len(set(counts)) > 1  # the trend is measurable on this sample
    trend = operation_trend(counts, [-trainer.score(arch)["loss"] for arch in cells])
    scorer = RunScorer(trainer, "supernet-loss-detrended", reference=8)
    assert scorer.single and scorer.trends == {"supernet-loss-detrended": pytest.approx(trend)}
    arch = space.sample_uniform(np.random.default_rng(3))
    loss = trainer.score(arch)["loss"]
    expected = -loss - trend * space.operation_count(arch)
    assert scorer.score(arch) == {**trainer.score(arch), "score": pytest.approx(expected),
                                  "operations": space.operation_count(arch)}
    accuracy = RunScorer(trainer, "supernet-detrended", reference=8)
    accuracy_trend = operation_trend(counts, [trainer.score(a)["accuracy"] for a in cells])
    assert accuracy.trends == {"supernet-detrended": pytest.approx(accuracy_trend)}
    hybrid = RunScorer(trainer, "supernet-loss-detrended+params", reference=8)
    detrended_reference = [-trainer.score(a)["loss"] - trend * c for a, c in zip(cells, counts)]
    assert hybrid.reference["supernet-loss-detrended"] == pytest.approx(detrended_reference)
    assert hybrid.score(arch)["supernet_operations"] == space.operation_count(arch)


def test_search_records_the_trends_its_scorer_took_out(nb101_run, capsys):
    assert main(["search", "--run", str(nb101_run), "--population", "2", "--generations", "1",
                 "--scorer", "supernet-loss-detrended+params", "--quiet"]) == 0
    top = json.loads((nb101_run / "top.json").read_text())
    assert top["scorer"] == "supernet-loss-detrended+params"
    assert set(top["scorer_trends"]) == {"supernet-loss-detrended"}
    best = top["top"][0]
    assert best["metrics"]["supernet_operations"] == SPACES["nb101"]().operation_count(best["encoding"])


def test_search_skips_cells_that_compute_no_operation(nb101_run):
    """A cell pruned to input->output (the quick start once crowned one) is never scored unless asked."""
    trainer = open_run(nb101_run)
    space = trainer.space
    degenerate = space.from_str("ops=conv1x1,maxpool3x3,conv3x3,conv3x3,conv3x3 edges=0-1,0-6,1-2,2-3")
    assert space.is_degenerate(degenerate)
    search = SupernetSearch(trainer, SearchConfig(population=4, generations=0, seeds="uniform"), progress=False)
    assert not search.within_limits(degenerate)
    assert not any(space.is_degenerate(a) for a in search.propose(40))
    keeping = SupernetSearch(trainer, SearchConfig(population=4, generations=0, seeds="uniform",
                                                   keep_degenerate=True), progress=False)
    assert keeping.within_limits(degenerate)


@pytest.mark.full_data("nb101")  # ranks cells drawn from the whole space
def test_search_and_rank_with_zero_cost_and_hybrid_scorers(nb101_run, nb101_table, capsys):
    """--scorer: a proxy alone needs no trained weights; a hybrid is the mean position of its parts in a fixed
    reference sample, so one architecture's score does not depend on what else is scored."""
    from samplenas.training.scorers import RunScorer

    trainer = open_run(nb101_run)
    hybrid = RunScorer(trainer, "supernet + synflow", reference=8)
    arch = trainer.space.sample_uniform(np.random.default_rng(11))
    result = hybrid.score(arch)
    assert hybrid.name == "supernet+synflow" and 0.0 <= result["score"] <= 1.0
    assert {"supernet_accuracy", "synflow"} <= set(result)
    assert RunScorer(trainer, "supernet+synflow", reference=8).score(arch) == result
    assert main(["search", "--run", str(nb101_run), "--population", "3", "--generations", "1", "--children", "2",
                 "--scorer", "supernet+synflow", "--quiet"]) == 0
    top = json.loads((nb101_run / "top.json").read_text())
    assert top["scorer"] == "supernet+synflow" and top["evaluated"] == 5
    assert all(entry["objective"] == -entry["score"] for entry in top["top"])
    assert main(["rank", "--run", str(nb101_run), "--table", str(nb101_table), "--n", "6", "--quiet",
                 "--scorer", "params"]) == 0
    report = json.loads((nb101_run / "rank.json").read_text())
    params = [trainer.supernet.cost(trainer.space.parse(c["arch"]))["params"] for c in report["cells"]]
    assert report["scorer"] == "params" and [c["score"] for c in report["cells"]] == params
    assert "scored by params" in capsys.readouterr().out
    assert main(["rank", "--run", str(nb101_run), "--table", str(nb101_table), "--scorer", "zen"]) == 2
    assert "unknown scorer 'zen'" in capsys.readouterr().err


def test_fit_scorer_learns_weights_from_labelled_cells_and_search_uses_them(nb101_run, tmp_path, capsys):
    """Cells labelled by their own parameter count: the fit must put the weight on params, and the learned
    scorer it prints must be one `search --scorer` accepts and records."""
    from samplenas.training.rank import distinct_uniform
    from samplenas.training.scorers import RunScorer

    trainer = open_run(nb101_run)
    space = trainer.space
    cells = distinct_uniform(space, 12, np.random.default_rng(5))
    lines = [{"arch": space.to_str(arch) if i % 2 else list(arch),
              "standalone": trainer.supernet.cost(arch)["params"]} for i, arch in enumerate(cells)]
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["fit-scorer", "--run", str(nb101_run), "--labelled", str(labelled), "--label", "standalone",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    report = json.loads((nb101_run / "scorer_fit.json").read_text())
    assert report["architectures"] == 12 and report["folds"] == 4
    assert report["objective"] == "kendall" and report["parts"]["params"] > 0.8
    assert report["weights"]["params"] > report["weights"]["supernet"]
    assert report["fitted"] >= report["parts"]["params"] - 1e-12
    assert f"scorer: {report['scorer']}" in out and "cross-validated" in out and "of the best fit" in out
    low, high = report["near_best"]["params"]
    assert low <= report["weights"]["params"] <= high
    learned = RunScorer(trainer, report["scorer"], reference=8)
    positions, _ = learned.positions(cells[0])
    assert learned.score(cells[0])["score"] == pytest.approx(
        sum(learned.weights[part] * position for part, position in positions.items()))
    assert main(["search", "--run", str(nb101_run), "--population", "3", "--generations", "1", "--children", "2",
                 "--scorer", report["scorer"], "--quiet"]) == 0
    assert json.loads((nb101_run / "top.json").read_text())["scorer"] == report["scorer"]
    assert main(["fit-scorer", "--run", str(nb101_run), "--labelled", str(labelled), "--label", "standalone",
                 "--objective", "weighted", "--quiet"]) == 0
    assert "weighted tau of each part" in capsys.readouterr().out
    assert json.loads((nb101_run / "scorer_fit.json").read_text())["objective"] == "weighted"


@pytest.mark.full_data("nb101")  # labels cells drawn from the whole space
def test_fit_scorer_can_label_nb101_cells_by_the_table(nb101_run, nb101_table, tmp_path, capsys):
    from samplenas.benchmarks.nasbench101 import NASBench101
    from samplenas.training.rank import distinct_uniform

    space = open_run(nb101_run).space
    cells = distinct_uniform(space, 9, np.random.default_rng(8))
    labelled = tmp_path / "cells.jsonl"
    labelled.write_text("".join(json.dumps({"arch": space.to_str(arch)}) + "\n" for arch in cells))
    assert main(["fit-scorer", "--run", str(nb101_run), "--labelled", str(labelled), "--table", str(nb101_table),
                 "--scorer", "params+synflow", "--quiet"]) == 0
    report = json.loads((nb101_run / "scorer_fit.json").read_text())
    table = NASBench101(nb101_table)
    expected = table.values("test_accuracy", table.lookup_archs(cells), repeat="mean")
    assert [cell["table test_accuracy"] for cell in report["cells"]] == pytest.approx(list(expected))
    assert report["table"] == str(nb101_table) and report["folds"] == 3
    capsys.readouterr()


@pytest.mark.parametrize("content, args, message", [
    ('{"arch": [0], "val_accuracy": 0.5}\n', [], "positions"),
    ("not json\n", [], "is not JSON"),
    ('{"arch": "x"}\n', [], "needs an object with"),
    ('{"arch": "x", "val_accuracy": "high"}\n', [], None),
    ("", [], "at least 6"),
    ("", ["--scorer", "params"], "at least two parts"),
    ("", ["--objective", "spearman"], "invalid choice"),
])
def test_fit_scorer_refuses_bad_labelled_files_in_one_line(nb101_run, tmp_path, capsys, content, args, message):
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(content)
    assert main(["fit-scorer", "--run", str(nb101_run), "--labelled", str(labelled), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and (message is None or message in err)
    assert not (tmp_path / "scorer_fit.json").exists()


def test_a_second_scoring_is_described_in_one_wording():
    """search's and quickstart's line about the finalists: the scorer named (the search's own when the record
    names none), a standalone one by its steps, and the validation images as an upper bound (a small
    validation split holds fewer)."""
    from samplenas.training.search import describe_rescoring

    assert describe_rescoring({"top": 3, "eval_examples": 48}, "supernet-loss") == \
        "by supernet-loss, on up to 48 validation images"
    assert describe_rescoring({"top": 3, "scorer": "params"}, "supernet") == "by params"
    assert describe_rescoring({"top": 10, "eval_examples": 2000, "scorer": "standalone", "standalone_steps": 300},
                              "supernet-loss+params") == "trained alone for 300 steps, on up to 2000 validation images"
    reduced = {"top": 10, "scorer": "standalone", "standalone_steps": 600, "standalone_downscale": 2}
    assert describe_rescoring(reduced, "supernet") == "trained alone for 600 steps on images downscaled 2x"
