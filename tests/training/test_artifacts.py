"""One reader per artifact: top.json and result.json architecture lists, checkpoints, retrained networks."""

from __future__ import annotations

import json

import pytest

from samplenas.errors import UserError
from samplenas.training.artifacts import read_checkpoint, read_top, retrained_networks
from samplenas.training.checkpoint import save_checkpoint
from samplenas.training.train_config import TrainConfig

NB101_CELL = "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6"


def _write(path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def test_a_bare_list_and_an_object_without_a_run(tmp_path):
    path = tmp_path / "top.json"
    _write(path, [[0, 1, 2]])
    top = read_top(path)
    assert (top.kind, top.space, top.best, top.data, top.recipe) == ("list", None, "0,1,2", None, {})
    assert top.for_space("shufflenet") == "shufflenet"
    with pytest.raises(UserError, match="does not name its space; pass --space"):
        top.for_space(None)
    _write(path, {"space": "nb101", "top": [{"arch": NB101_CELL, "score": 0.9}, {"arch": "x"}]})
    top = read_top(path)
    assert (top.space, top.best, top.run) == ("nb101", NB101_CELL, None)
    with pytest.raises(UserError, match="holds nb101 architectures, not nasnet"):
        top.for_space("nasnet")


def _search_run(folder, data="mnist", data_dir="/data/here"):
    config = TrainConfig(space="nb101", sampler="uniform", data=data, data_dir=data_dir,
                         network={"stem_channels": 8}, task="classification")
    _write(folder / "config.json", config.to_dict())


def test_a_search_top_takes_data_and_network_from_its_runs_config(tmp_path):
    run = tmp_path / "run"
    _search_run(run)
    _write(run / "top.json", {"space": "nb101", "run": str(run), "top": [{"arch": NB101_CELL}]})
    top = read_top(run / "top.json")
    assert (top.kind, top.data, top.data_dir, top.run) == ("search", "mnist", "/data/here", run)
    assert top.recipe["network"]["stem_channels"] == 8 and top.recipe["task"] == "classification"
    assert top.settings_from == run / "config.json"
    moved = tmp_path / "moved"
    run.rename(moved)  # the folder named in top.json is gone: the one holding top.json is the run
    top = read_top(moved / "top.json")
    assert top.run == moved.resolve() and top.data == "mnist"


def test_a_search_top_retrains_the_official_cell_of_a_run_trained_with_the_added_edge(tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(space="nb101", sampler="uniform", network={"stem_channels": 8, "input_output_edge": "always"})
    _write(run / "config.json", config.to_dict())
    _write(run / "top.json", {"space": "nb101", "run": str(run), "top": [{"arch": NB101_CELL}]})
    network = read_top(run / "top.json").recipe["network"]
    assert network["input_output_edge"] == "encoded" and network["stem_channels"] == 8


@pytest.mark.parametrize("kind, content", [
    ("evolve", {"format": "samplenas-evolve-result-1", "space": "autoencoder", "data": "fashion-mnist",
                "network": {"max_layers": 2}, "recipe": {"network": {"max_layers": 2}, "epochs": 3}}),
    ("pbt", {"format": "samplenas-pbt-1", "space": "autoencoder", "data": "fashion-mnist",
             "settings": {"max_layers": 2}, "recipe": {"network": {"max_layers": 2}, "epochs": 3}}),
    ("dnc", {"format": "samplenas-dnc-1", "space": "dnc", "data": "fashion-mnist",
             "settings": {"data_dir": "/data/fm"}, "recipe": {"lr": 0.01}}),
])
def test_population_results_hold_their_own_data_and_recipe(tmp_path, kind, content):
    path = tmp_path / "result.json"
    _write(path, {**content, "top": [{"arch": "3x3conv2d:8", "fitness": 1.0}]})
    top = read_top(path)
    assert (top.kind, top.space, top.best, top.data) == (kind, content["space"], "3x3conv2d:8", "fashion-mnist")
    assert top.recipe == content["recipe"] and top.settings_from == path and top.run is None
    assert top.data_dir == ("/data/fm" if kind == "dnc" else None)


@pytest.mark.parametrize("content, message", [
    ({"top": []}, "no architectures found"),
    ({"top": [{"score": 1}]}, "the first entry holds no architecture"),
    ({"top": ["a"], "recipe": [1]}, "'recipe' must be an object"),
    ({"top": ["a"], "data": 3}, "'data' must be a string"),
    ({"top": ["a"], "settings": {"data_dir": 3}}, "'data_dir' must be a string"),
    ({"top": ["a"], "run": 7}, "'run' must be a string"),
])
def test_bad_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "top.json"
    _write(path, content)
    with pytest.raises(UserError, match=message):
        read_top(path)
    with pytest.raises(UserError, match="does not exist"):
        read_top(tmp_path / "missing.json")


def test_read_checkpoint_tells_kinds_apart_and_checks_a_retrain_layout(tmp_path):
    save_checkpoint(tmp_path / "foreign" / "checkpoint.pt", {"epoch": 3})
    with pytest.raises(UserError, match="neither a retrain nor a supernet training checkpoint"):
        read_checkpoint(tmp_path / "foreign")
    save_checkpoint(tmp_path / "old" / "checkpoint.pt", {"meta": {"format": "samplenas-retrain-0"}})
    with pytest.raises(UserError, match="this version of samplenas reads 'samplenas-retrain-1'"):
        read_checkpoint(tmp_path / "old" / "checkpoint.pt")
    save_checkpoint(tmp_path / "lone.pt", {"format": "samplenas-supernet-1"})
    with pytest.raises(UserError, match="no config.json of its run is beside it$"):
        read_checkpoint(tmp_path / "lone.pt")


def test_retrained_networks_are_the_saved_ones(tmp_path):
    import torch

    from samplenas.training.recipes import resolve_recipe
    from samplenas.training.retrain import retrain
    from samplenas.training.retrainer import RetrainJob

    recipe = resolve_recipe("autoencoder", {"task": "denoising", "epochs": 1, "batch_size": 16})
    retrain(RetrainJob(space="autoencoder", arch="3x3conv2d:8", data="digits", out=tmp_path, recipe=recipe,
                       limit=48, ensemble=2, progress=False, device="cpu"))
    checkpoint = read_checkpoint(tmp_path)
    assert checkpoint.kind == "retrain" and checkpoint.path == tmp_path / "checkpoint.pt"
    built = retrained_networks(checkpoint)
    assert len(built.nets) == 2 and built.supernet.space.to_str(built.arch) == "3x3conv2d:8"
    for net, member in zip(built.nets, checkpoint.state["members"]):
        assert all(torch.equal(net.state_dict()[name], tensor) for name, tensor in member["model"].items())
    with pytest.raises(UserError, match="holds 2 network\\(s\\); member 2 is out of range 0..1"):
        retrained_networks(checkpoint, [2])
