"""Few-shot sub-supernets (tools/few_shot_nb101.py): each part warm-starts from the parent, trains only on
its own cells, and a cell is scored by its part's supernet."""

import json

import numpy as np
import pytest

from samplenas.training.supernet_run import open_run
from samplenas.training.supernet_train import SupernetTrainer
from samplenas.training.train_config import TrainConfig
from tests.tools.tool_loader import load_tool

TINY = {"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    out = tmp_path_factory.mktemp("parent")
    config = TrainConfig(space="nb101", sampler="uniform", network=TINY, steps=4, eval_every=0, limit=256)
    SupernetTrainer(config, progress=False).train(out)
    return out


def train_recording_draws(tool, parent, out, **split) -> tuple[dict, list[list]]:
    """The manifest of 3-step parts trained from `parent`, and the cells each part drew, part by part."""
    drawn: dict[int, list] = {}
    original = SupernetTrainer._draw

    def recording_draw(self):
        archs = original(self)
        drawn.setdefault(id(self), []).extend(archs)
        return archs

    SupernetTrainer._draw = recording_draw
    try:
        manifest = tool.train_parts(parent, out, steps=3, lr=0.01, **split)
    finally:
        SupernetTrainer._draw = original
    return manifest, list(drawn.values())


def test_parts_warm_start_train_only_their_cells_and_score_them(parent, tmp_path):
    tool = load_tool("few_shot_nb101")
    manifest, drawn = train_recording_draws(tool, parent, tmp_path)
    position = manifest["position"]
    assert manifest["parts"] == {"0": "part0", "1": "part1", "2": "part2"}
    assert json.loads((tmp_path / tool.FEW_SHOT_FILE).read_text()) == manifest
    # every part trained 3 steps, each on cells of its own part only
    assert sorted({int(a[position]) for a in archs} for archs in drawn) == [{0}, {1}, {2}]
    assert all(len(archs) == 3 for archs in drawn)
    # warm start: a part's weights moved from the parent's, but not far (3 steps at lr 0.01)
    weights = {name: open_run(folder).supernet.classifier.weight.detach()
               for name, folder in (("parent", parent), ("part0", tmp_path / "part0"))}
    fresh = SupernetTrainer(TrainConfig(space="nb101", sampler="uniform", network=TINY, limit=256),
                            progress=False).supernet.classifier.weight.detach()
    moved = (weights["part0"] - weights["parent"]).abs().max()
    assert 0 < moved < (fresh - weights["parent"]).abs().max()
    # scoring: each cell on its part's supernet
    scorer = tool.FewShotScorer(tmp_path, {"eval_examples": 64, "bn_batches": 1})
    rng = np.random.default_rng(0)
    for _ in range(4):
        arch = scorer.parts[0].space.sample_uniform(rng)
        expected = scorer.parts[int(arch[position])].score(arch)
        assert scorer.score(arch) == expected


def test_a_split_on_the_edge_trains_and_scores_each_cell_with_its_own_edge(tmp_path_factory, tmp_path):
    tool = load_tool("few_shot_nb101")
    always = tmp_path_factory.mktemp("always")  # a parent trained with the edge in every cell, the default
    config = TrainConfig(space="nb101", sampler="uniform", network={**TINY, "input_output_edge": "always"}, steps=2,
                         eval_every=0, limit=256)
    SupernetTrainer(config, progress=False).train(always)
    manifest, drawn = train_recording_draws(tool, always, tmp_path, split="edge")
    position = manifest["position"]
    assert manifest["split_by"] == "edge" and manifest["parts"] == {"0": "part0", "1": "part1"}
    space = open_run(always).space
    rng = np.random.default_rng(2)
    for arch in (space.sample_uniform(rng) for _ in range(50)):  # the position read is the cell's own edge
        assert arch[position] == space.decode(arch).matrix[0, -1]
    assert sorted({int(a[position]) for a in archs} for archs in drawn) == [{0}, {1}]
    parts = {value: open_run(tmp_path / folder) for value, folder in manifest["parts"].items()}
    assert {run.supernet.settings["input_output_edge"] for run in parts.values()} == {"encoded"}
    without = next(a for a in (space.sample_uniform(rng) for _ in range(100)) if not a[position])
    assert not any(plan.added_edge or plan.matrix[0, -1] for plan in parts["0"].supernet.plans(without))
    assert open_run(always).supernet.plans(without)[0].added_edge  # the parent could only score it with the edge
    scorer = tool.FewShotScorer(tmp_path, {"eval_examples": 64, "bn_batches": 1})
    for arch in [without, *(space.sample_uniform(rng) for _ in range(3))]:
        assert scorer.score(arch) == scorer.parts[int(arch[position])].score(arch)


def test_a_split_by_size_trains_each_band_on_its_own_cells_and_scores_each_cell_on_its_band(parent, tmp_path):
    import torch

    tool = load_tool("few_shot_nb101")
    manifest, drawn = train_recording_draws(tool, parent, tmp_path, split="params", parts=2, band_draws=60)
    assert manifest["split_by"] == "params" and manifest["parts"] == {"0": "part0", "1": "part1"}
    supernet = open_run(parent).supernet
    untouched = torch.get_rng_state()
    count = supernet.param_count
    rng = np.random.default_rng([0, tool.BAND_STREAM])
    counts = [count(supernet.space.sample_uniform(rng)) for _ in range(60)]
    assert torch.equal(torch.get_rng_state(), untouched)  # counting builds on the meta device: no draw
    (edge,) = manifest["edges"]
    assert edge == float(np.median(counts))
    # each band's sub-supernet trained only on cells of its band: the small ones below the edge, the large above
    bands = sorted([{count(arch) > edge for arch in archs} for archs in drawn], key=sorted)
    assert bands == [{False}, {True}] and all(len(archs) == 3 for archs in drawn)
    scorer = tool.FewShotScorer(tmp_path, {"eval_examples": 64, "bn_batches": 1})
    for _ in range(4):
        arch = supernet.space.sample_uniform(rng)
        assert scorer.score(arch) == scorer.parts[int(count(arch) > edge)].score(arch)


def test_one_band_is_the_control_every_cell_in_one_part(parent, tmp_path):
    tool = load_tool("few_shot_nb101")
    manifest = tool.train_parts(parent, tmp_path, steps=1, lr=0.01, split="params", parts=1, band_draws=10)
    assert manifest["edges"] == [] and manifest["parts"] == {"0": "part0"}
    splitter = tool.Splitter(manifest, open_run(parent).supernet.param_count)
    rng = np.random.default_rng(1)
    assert {splitter(open_run(parent).space.sample_uniform(rng)) for _ in range(20)} == {0}


def test_bad_counts_are_usage_errors(capsys):
    tool = load_tool("few_shot_nb101")
    for flag in ("--parts", "--band-draws", "--steps"):
        argv = ["--parent", "p", "--out", "o", "--steps", "3", "--split", "params", flag, "0"]
        with pytest.raises(SystemExit) as exit_:
            tool.main(argv)
        assert exit_.value.code == 2 and f"{flag} must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        tool.main(["--parent", "p", "--out", "o", "--steps", "3", "--parts", "5"])  # the op split has its own 3 parts
    assert exit_.value.code == 2
    assert "--parts and --band-draws cut the bands of --split params" in capsys.readouterr().err
