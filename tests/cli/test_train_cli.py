"""`samplenas train/search/rank` report user errors as one line and exit status 2."""

import json

import pytest
import torch

from samplenas.cli import main
from samplenas.training.supernet_run import open_run
from samplenas.training.supernet_train import SupernetTrainer
from samplenas.training.train_config import TrainConfig

TINY = ["--network", json.dumps({"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}),
        "--batch-size", "8", "--eval-examples", "16", "--bn-batches", "1", "--quiet"]


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"samplenas {argv[0]}: error: "), err
    return err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_run")
    assert main(["train", "--space", "nb101", "--sampler", "uniform", "--out", str(out), "--steps", "2",
                 "--eval-every", "0", *TINY]) == 0
    return out


@pytest.mark.parametrize("argv, expected", [
    (["--space", "nowhere", "--sampler", "uniform"], "unknown space 'nowhere'; valid: autoencoder, nasnet, nb101"),
    (["--space", "nb101", "--sampler", "greedy"], "unknown sampler 'greedy'; valid: evolution, fair"),
    (["--space", "nb101", "--sampler", "uniform", "--data", "imagenet"], "unknown dataset 'imagenet'; valid: digits"),
    (["--space", "nb101", "--sampler", "uniform", "--data", "mnist", "--data-dir", "/no/such/dir"],
     "data directory /no/such/dir does not exist"),
    (["--space", "nb101", "--sampler", "uniform", "--mode", "gradient"], "gradient mode needs a sampler"),
    (["--space", "nb101", "--sampler", "uniform", "--network", "[1]"], "--network: expected a JSON object"),
    (["--space", "nb101", "--sampler", "uniform", "--inplace-distill"], "inplace_distill distils the largest path "
     "of the sandwich rule: give sandwich too"),
])
def test_train_errors(tmp_path, capsys, argv, expected):
    assert expected in one_line_error(capsys, ["train", "--out", str(tmp_path / "run"), *TINY, *argv])
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_config_file_and_flags(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"space": "nb101", "sampler": "uniform", "steps": 1, "eval_every": 0}))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--steps", "2", *TINY]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["steps"] == 2 and saved["space"] == "nb101"  # the flag beats the file
    assert "trained nb101 supernet with uniform for 2 steps" in capsys.readouterr().out
    (tmp_path / "listed.json").write_text(json.dumps({"space": ["nb101"], "sampler": "uniform"}))
    assert "space must be a string, got a list" in one_line_error(
        capsys, ["train", "--config", str(tmp_path / "listed.json"), "--out", str(tmp_path / "listed")])
    (tmp_path / "bad.json").write_text("{not json")
    assert "not valid JSON" in one_line_error(capsys, ["train", "--config", str(tmp_path / "bad.json"),
                                                       "--out", str(tmp_path / "other")])


def test_a_flag_giving_one_epsilon_schedule_replaces_the_other_of_the_file_or_the_saved_run(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"space": "nb101", "sampler": "vae", "epsilon_inc": 0.5, "steps": 2,
                                  "eval_every": 0, "sampler_options": {"iters": 1}}))
    ramped = tmp_path / "ramped"
    assert main(["train", "--config", str(config), "--out", str(ramped), "--epsilon-ramp", "0.5", *TINY]) == 0
    saved = json.loads((ramped / "config.json").read_text())
    assert (saved["epsilon_inc"], saved["epsilon_ramp"]) == (None, 0.5)
    # resumed with the other schedule: the run's own check names the difference, not a clash of two flags
    err = one_line_error(capsys, ["train", "--out", str(ramped), "--resume", "--epsilon-inc", "0.01"])
    assert "was written with epsilon_inc=None, but this run has epsilon_inc=0.01" in err
    assert "give one of them" in one_line_error(capsys, ["train", "--space", "nb101", "--sampler", "vae",
                                                         "--epsilon-inc", "0.01", "--epsilon-ramp", "0.5",
                                                         "--out", str(tmp_path / "both"), *TINY])


def test_a_new_nb101_run_writes_the_added_edge_into_its_config_unless_told_and_resume_keeps_the_saved_one(
        tmp_path, capsys):
    def network(out):
        return json.loads((out / "config.json").read_text())["network"]

    train = ["train", "--space", "nb101", "--sampler", "uniform", "--steps", "1", "--eval-every", "0", "--quiet"]
    assert main([*train, "--out", str(tmp_path / "new"), *TINY]) == 0
    assert network(tmp_path / "new")["input_output_edge"] == "always"
    told = ["--network", json.dumps({"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1,
                                     "input_output_edge": "encoded"})]
    assert main([*train, "--out", str(tmp_path / "told"), *told, *TINY[2:]]) == 0
    assert network(tmp_path / "told")["input_output_edge"] == "encoded"
    # a run saved before the default holds only the user's settings (as the API still writes): resumed, it
    # stays the supernet it trained
    old = tmp_path / "old"
    SupernetTrainer(TrainConfig(space="nb101", sampler="uniform", steps=1, eval_every=0, batch_size=8,
                                network={"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}),
                    progress=False).train(old)
    assert "input_output_edge" not in network(old)
    assert main([*train, "--out", str(old), "--resume"]) == 0
    assert "input_output_edge" not in network(old)
    assert open_run(old).supernet.settings["input_output_edge"] == "encoded"


def test_nan_loss_stops_with_last_good_checkpoint(tmp_path, capsys):
    err = one_line_error(capsys, ["train", "--space", "nb101", "--sampler", "uniform", "--out", str(tmp_path),
                                  "--steps", "6", "--lr", "1e30", "--grad-clip", "0", "--eval-every", "0",
                                  "--checkpoint-every", "1", *TINY])
    assert "training loss became" in err and "last good checkpoint" in err


def test_corrupt_and_mismatched_checkpoints(run, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.json").write_text((run / "config.json").read_text())
    (copy / "checkpoint.pt").write_bytes(b"garbage")
    assert "cannot be read" in one_line_error(capsys, ["train", "--out", str(copy), "--resume"])
    assert "cannot be read" in one_line_error(capsys, ["search", "--run", str(copy)])
    (copy / "checkpoint.pt").write_bytes((run / "checkpoint.pt").read_bytes())
    assert "lr=0.025, but this run has lr=0.5" in one_line_error(
        capsys, ["train", "--out", str(copy), "--resume", "--lr", "0.5"])


def test_search_and_rank_errors(run, tmp_path, capsys):
    assert "run directory" in one_line_error(capsys, ["search", "--run", str(tmp_path / "missing")])
    assert "architecture has 3 positions, expected 26" in one_line_error(
        capsys, ["search", "--run", str(run), "--arch", "1,0,1"])
    assert "unknown cost metric" in one_line_error(capsys, ["search", "--run", str(run), "--cost-metric", "watts"])
    assert "no such table" in one_line_error(capsys, ["rank", "--run", str(run), "--table", str(tmp_path / "t.h5")])


def test_overwrite_replaces_the_whole_previous_run_kept_checkpoints_included(tmp_path):
    common = ["train", "--space", "nb101", "--sampler", "uniform", "--out", str(tmp_path), "--batch-size", "8",
              "--eval-every", "0", "--keep-checkpoints", "--checkpoint-every", "2", "--quiet",
              "--network", '{"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}']
    assert main([*common, "--steps", "4"]) == 0
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step0000002.pt", "step0000004.pt"]
    assert main([*common, "--steps", "2", "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step0000002.pt"]
    kept = torch.load(tmp_path / "checkpoints" / "step0000002.pt", weights_only=True)
    assert kept["step"] == 2 and kept["config"]["steps"] == 2  # the new run's, not the old run's step 2


def test_proxy_filter_trains_and_seeds_search_from_the_command_line(tmp_path, capsys):
    options = json.dumps({"proxy": "synflow", "pool": 3, "batch_size": 8})
    argv = ["train", "--space", "nb101", "--sampler", "proxy-filter", "--sampler-options", options, "--steps", "2",
            "--eval-every", "2", "--eval-archs", "2", "--out", str(tmp_path), *TINY]
    assert main(argv) == 0
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["sampler"] == "proxy-filter" and saved["sampler_options"]["proxy"] == "synflow"
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["sampler"]["sampler"] == "proxy-filter" and state["sampler"]["inner"]["sampler"] == "uniform"
    assert main(["search", "--run", str(tmp_path), "--population", "2", "--generations", "1", "--children", "1",
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "top.json").read_text())["evaluated"] == 3
    capsys.readouterr()
    bad = json.dumps({"proxy": "zen"})
    assert "unknown proxy 'zen'" in one_line_error(capsys, ["train", "--space", "nb101", "--sampler", "proxy-filter",
                                                            "--sampler-options", bad, "--out", str(tmp_path / "bad"),
                                                            *TINY])
    assert not (tmp_path / "bad" / "checkpoint.pt").exists()
