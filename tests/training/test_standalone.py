"""The standalone scorer: an architecture's own network trained alone, scored as the supernet scores, and
search ordering its finalists by it (--rescore-scorer standalone)."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from samplenas.cli import main
from samplenas.errors import UserError
from samplenas.training.standalone import StandaloneScorer, train_alone
from samplenas.training.supernet_eval import score_arch
from samplenas.training.supernet_run import open_run
from tests.training.test_search import train_tiny


@pytest.fixture(scope="module")
def nb101_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("nb101_standalone")
    train_tiny("nb101", run, steps=6)
    return run


def test_standalone_scores_are_reproducible_and_come_from_training(nb101_run):
    """The same architecture scores the same from a fresh scorer (every network starts from the run's seed and
    sees the same batches); training moves it away from the untrained network's score; the metrics say how."""
    trainer = open_run(nb101_run)
    arch = trainer.space.sample_uniform(np.random.default_rng(3))
    first = StandaloneScorer(trainer, steps=12).score(arch)
    again = StandaloneScorer(open_run(nb101_run), steps=12).score(arch)
    assert first == {**again, "standalone_seconds": first["standalone_seconds"]}
    assert first["score"] == first["standalone_accuracy"] and first["standalone_steps"] == 12
    assert first["standalone_examples"] == trainer.config.eval_examples
    untrained = score_arch(StandaloneScorer(trainer).network(arch), None, trainer.task, trainer.val,
                           trainer.calibration)
    assert untrained["loss"] != pytest.approx(first["standalone_loss"])


def test_a_reduced_resolution_trains_and_scores_on_the_same_examples_resized(nb101_run):
    """downscale: the training batches, the validation images and the calibration batches are the run's own
    examples at that fraction of the side; the score is another than at the run's size, and reproducible; a
    divisor that leaves a fraction or too few pixels is refused in one line."""
    trainer = open_run(nb101_run)
    arch = trainer.space.sample_uniform(np.random.default_rng(3))
    small = StandaloneScorer(trainer, steps=6, downscale=2)
    assert small.train_set.batch([0])[0].shape[-1] == 4 and trainer.data.train.batch([0])[0].shape[-1] == 8
    assert [x.shape[-1] for x, _ in small.val] == [4] * len(trainer.val)
    assert [y.tolist() for _, y in small.val] == [y.tolist() for _, y in trainer.val]
    assert len(small.calibration) == len(trainer.calibration)
    assert [y.tolist() for _, y in small.calibration] == [y.tolist() for _, y in trainer.calibration]
    first = small.score(arch)
    assert first["standalone_image_size"] == 4
    assert first["score"] == StandaloneScorer(open_run(nb101_run), steps=6, downscale=2).score(arch)["score"]
    assert first["score"] != StandaloneScorer(trainer, steps=6).score(arch)["score"]
    for bad in (3, 4, 0):  # 8 / 3 is no side, 8 / 4 leaves 2 pixels
        with pytest.raises(UserError, match=f"standalone_downscale {bad}: the run's 8-pixel images need a divisor"):
            StandaloneScorer(trainer, downscale=bad)


def test_the_network_trained_is_the_deployed_cell_not_the_supernet_s_path(nb101_run):
    """A run trains every cell with an input->output edge (a search aid); the cell trained alone is the official
    one, which the table judges and `cost` counts: a cell without that edge has fewer parameters than its path."""
    trainer = open_run(nb101_run)
    assert trainer.supernet.settings["input_output_edge"] == "always"
    space = trainer.space
    rng = np.random.default_rng(0)
    arch = next(a for a in (space.sample_uniform(rng) for _ in range(200)) if "0-6" not in space.to_str(a))
    net = StandaloneScorer(trainer).network(arch)
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert params == trainer.supernet.cost(arch)["params"]
    assert params < sum(p.numel() for p in trainer.supernet.build(arch).parameters())


def test_train_alone_lowers_the_training_loss_of_the_official_cell(nb101_run):
    """Forty steps at the standalone learning rate learn the digits: the last losses are below the first."""
    trainer = open_run(nb101_run)
    arch = trainer.space.sample_uniform(np.random.default_rng(5))
    torch.manual_seed(0)
    net = trainer.supernet.deployed_network(arch)
    losses, seconds = train_alone(net, trainer.data.train, trainer.task, replace(trainer.recipe, lr=0.1), 40, 32, 0)
    assert len(losses) == 40 and seconds > 0
    assert sum(losses[-5:]) < sum(losses[:5])


@pytest.mark.slow
def test_search_orders_its_finalists_by_their_standalone_training(nb101_run, capsys):
    """--rescore-top K --rescore-scorer standalone: the search's best K ordered by their standalone accuracy
    (exactly as the scorer gives it), the steps and the image downscaling recorded in top.json (nb101's own, 2,
    where none is given; 1, the run's images, unrecorded); bad values are refused in one line."""
    args = ["search", "--run", str(nb101_run), "--population", "4", "--generations", "1", "--top", "5",
            "--scorer", "params", "--quiet"]
    assert main([*args, "--rescore-top", "3", "--rescore-scorer", "standalone", "--standalone-steps", "5"]) == 0
    assert "scored again (trained alone for 5 steps on images downscaled 2x)" in capsys.readouterr().out
    report = json.loads((nb101_run / "top.json").read_text())
    assert report["rescored"] == {"top": 3, "scorer": "standalone", "standalone_steps": 5, "standalone_downscale": 2}
    assert "standalone_steps" not in report["evaluation"]  # the search itself scored by params
    finalists = report["top"][:3]
    scorer = StandaloneScorer(open_run(nb101_run), steps=5, downscale=2)
    again = [scorer.score(tuple(entry["encoding"]))["score"] for entry in finalists]
    assert again == [entry["score"] for entry in finalists] == sorted(again, reverse=True)
    assert sorted(entry["search_rank"] for entry in finalists) == [1, 2, 3]
    assert all(entry["metrics"]["standalone_steps"] == 5 and "params" in entry["metrics"] for entry in finalists)
    assert main([*args, "--rescore-top", "3", "--rescore-scorer", "standalone", "--standalone-steps", "0"]) == 2
    assert "--standalone-steps" in capsys.readouterr().err
    # on the run's own images (--standalone-downscale 1): not recorded, not said; a divisor leaving too few pixels
    # is refused
    assert main([*args, "--rescore-top", "3", "--rescore-scorer", "standalone", "--standalone-steps", "5",
                 "--standalone-downscale", "1"]) == 0
    assert "scored again (trained alone for 5 steps)" in capsys.readouterr().out
    report = json.loads((nb101_run / "top.json").read_text())
    assert report["rescored"] == {"top": 3, "scorer": "standalone", "standalone_steps": 5}
    scorer = StandaloneScorer(open_run(nb101_run), steps=5)
    assert [entry["score"] for entry in report["top"][:3]] == sorted(
        scorer.score(tuple(entry["encoding"]))["score"] for entry in report["top"][:3])[::-1]
    for bad, message in (("4", "standalone_downscale 4: the run's 8-pixel images need a divisor of 8"),
                         ("0", "--standalone-downscale")):
        assert main([*args, "--rescore-top", "3", "--rescore-scorer", "standalone", "--standalone-downscale", bad]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.full_data("nb101")  # ranks cells drawn from the whole space
def test_rank_by_standalone_training_records_its_steps(nb101_run, nb101_table, capsys):
    assert main(["rank", "--run", str(nb101_run), "--table", str(nb101_table), "--n", "3", "--scorer",
                 "standalone", "--standalone-steps", "2", "--quiet"]) == 0
    report = json.loads((nb101_run / "rank.json").read_text())
    assert report["scorer"] == "standalone" and report["evaluation"]["standalone_steps"] == 2
    assert len(report["cells"]) == 3
