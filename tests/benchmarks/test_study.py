"""Study protocols on a synthetic oracle (fast), and the CLI end to end on the shared table."""

import json

import numpy as np
import pytest

from samplenas.benchmarks import study
from samplenas.samplers import SAMPLERS
from samplenas.spaces import SPACES

SPACE = SPACES["nb101"]()


def synthetic_oracle(archs):
    """Accuracy grows with the number of conv3x3 ops (choice 0 at the last five positions)."""
    return np.array([0.80 + 0.02 * sum(c == 0 for c in a[21:]) + 0.001 * sum(a[:21]) for a in archs])


def make(name, **options):
    return lambda seed: SAMPLERS[name](SPACES["nb101"](), seed=seed, **options)


def test_max_of_k_is_monotone_in_k_and_matches_a_direct_computation():
    results = study.max_of_k(make("uniform"), synthetic_oracle, [1, 5, 50], range(4), progress=False)
    means = [results[k].mean for k in (1, 5, 50)]
    assert means[0] <= means[1] <= means[2]
    direct = [synthetic_oracle(make("uniform")(seed).sample(5)).max() for seed in range(4)]
    assert results[5].values == pytest.approx(direct)


def test_search_curve_is_best_so_far_and_evolution_beats_random():
    random = study.search_curve(make("uniform"), synthetic_oracle, 60, range(6), progress=False)
    evolution = study.search_curve(make("evolution", population_size=10, tournament_size=3),
                                   synthetic_oracle, 60, range(6), progress=False)
    assert random.shape == (6, 60)
    assert np.all(np.diff(random, axis=1) >= 0)
    assert evolution[:, -1].mean() > random[:, -1].mean()


def test_search_curve_counts_distinct_cells_only():
    calls = []

    def counting_oracle(archs):
        calls.extend(SPACE.key(a) for a in archs)
        return synthetic_oracle(archs)

    study.search_curve(make("uniform"), counting_oracle, 40, [0], batch=8, progress=False)
    assert len(calls) == len(set(calls)) == 40


def test_warm_up_feeds_noisy_scores_of_uniform_cells():
    seen = {}

    class Recorder(SAMPLERS["uniform"]):
        def observe(self, archs, scores):
            seen["archs"], seen["scores"] = archs, np.asarray(scores)

    study.warm_up(Recorder(SPACE), synthetic_oracle, 300, noise=0.01, seed=3)
    residual = seen["scores"] - synthetic_oracle(seen["archs"])
    assert len(seen["archs"]) == 300 and 0.007 < residual.std() < 0.013


def test_plots_are_written(tmp_path):
    curves = {"a": np.sort(np.random.default_rng(0).random((3, 20)), axis=1)}
    study.plot_curves(curves, tmp_path / "c.png", "t")
    study.plot_max_of_k({"a": {10: study.Summary.of([0.9, 0.91])}}, tmp_path / "k.png", "t")
    study.plot_distributions({"a": np.full(50, 0.9), "b": np.full(50, 0.92)}, tmp_path / "d.png", "t")
    for name in ("c.png", "k.png", "d.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.full_data("nb101")  # draws cells from the whole space
def test_study_cli_end_to_end_on_the_full_table(nb101_table, tmp_path, capsys):
    from samplenas.cli import main

    out = tmp_path / "study"
    code = main(["nb101", "study", "--table", str(nb101_table), "--protocol", "search", "--budget", "30",
                 "--trials", "3", "--sampler", "uniform", "--sampler", "evolution:population_size=10",
                 "--out", str(out), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert json.loads((out / "search.json").read_text()) == report
    for spec in ("uniform", "evolution:population_size=10"):
        final = report["results"][spec]["final"]
        assert 0.85 < final["mean"] <= 0.9467  # the table's best repeat-0 test accuracy is 94.66 %
    assert (out / "search.png").stat().st_size > 1000


def test_study_cli_rejects_bad_sampler_options(nb101_table):
    from samplenas.cli import main

    assert main(["nb101", "study", "--table", str(nb101_table), "--sampler", "uniform:nope=1"]) == 2


def test_study_cli_refuses_to_warm_up_evolution_itself(nb101_table, capsys):
    from samplenas.cli import main

    assert main(["nb101", "study", "--table", str(nb101_table), "--protocol", "search", "--warmup", "10",
                 "--sampler", "evolution"]) == 2
    assert "free table queries" in capsys.readouterr().err


def test_search_curve_stops_a_collapsed_sampler_with_a_clear_error():
    from samplenas.errors import UserError

    class Stuck(SAMPLERS["uniform"]):
        def sample(self, n):
            return [SPACE.sample(np.random.default_rng(0))] * n

    with pytest.raises(UserError, match="no new cell"):
        study.search_curve(lambda seed: Stuck(SPACE, seed=seed), synthetic_oracle, 5, [0], progress=False)


def test_sampler_spec_values_may_be_json_with_commas():
    from samplenas.cli.nb101_study import parse_spec

    spec = 'predictor:pool=5,inner_options={"epsilon_inc":0.1,"inner_options":{"iters":30}},kappa=1'
    assert parse_spec(spec) == ("predictor", {"pool": 5, "kappa": 1,
                                              "inner_options": {"epsilon_inc": 0.1, "inner_options": {"iters": 30}}})
    assert parse_spec("vae:top_percent=25,,iters=3") == ("vae", {"top_percent": 25, "iters": 3})


def test_study_cli_refuses_a_budget_evolution_spends_on_its_initial_population(nb101_small_table, tmp_path, refused):
    """With --budget <= population_size evolution never proposes a child: its numbers would be its init
    sampler's. Refused before any query, naming the option to change."""
    table = str(nb101_small_table)
    refused(["nb101", "study", "--table", table, "--protocol", "search", "--budget", "50"], tmp_path,
            "evolution's initial population of 50")
    refused(["nb101", "study", "--table", table, "--protocol", "search", "--budget", "20", "--sampler",
             "evolution:population_size=20"], tmp_path, "evolution:population_size=N with N < 20")


def test_init_only_note_explains_evolution_without_scores():
    from samplenas.cli.nb101_study import init_only_note

    assert "its numbers are uniform's" in init_only_note("evolution", "maxk")
    assert "its numbers are vae's" in init_only_note("evolution:init=vae", "distribution")
    assert init_only_note("evolution", "search") is None and init_only_note("vae", "maxk") is None


def test_equal_curves_stay_visible_and_the_legend_says_which_they_equal(tmp_path, monkeypatch):
    """A curve drawn over an equal one hid it: each curve has its own line style and marker, and the
    legend names the earlier curve an equal one coincides with."""
    figures = []
    monkeypatch.setattr(study, "save_figure", lambda fig, path, **options: figures.append(fig))
    rows = np.sort(np.random.default_rng(0).random((3, 20)), axis=1)
    study.plot_curves({"uniform": rows, "evolution": rows.copy(), "vae": rows + 0.01}, tmp_path / "c.png", "t")
    summary = {10: study.Summary.of([0.9, 0.91]), 50: study.Summary.of([0.92, 0.93])}
    study.plot_max_of_k({"uniform": summary, "evolution": dict(summary)}, tmp_path / "k.png", "t")
    curves, maxk = (fig.axes[0] for fig in figures)
    lines = curves.get_lines()
    assert len({(line.get_linestyle(), line.get_marker()) for line in lines}) == 3
    labels = [text.get_text() for text in curves.get_legend().get_texts()]
    assert "(= uniform)" in labels[1] and "=" not in labels[0] and "=" not in labels[2]
    maxk_labels = [text.get_text() for text in maxk.get_legend().get_texts()]
    assert maxk_labels == ["uniform", "evolution (= uniform)"]
    data_lines = [container.lines[0] for container in maxk.containers]  # without the error bars' caps
    assert len({(line.get_linestyle(), line.get_marker()) for line in data_lines}) == 2
    for fig in figures:
        study.pyplot().close(fig)
