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


def test_parts_warm_start_train_only_their_cells_and_score_them(parent, tmp_path):
    tool = load_tool("few_shot_nb101")
    drawn: dict[int, list] = {}
    original = SupernetTrainer._draw

    def recording_draw(self):
        archs = original(self)
        drawn.setdefault(id(self), []).extend(archs)
        return archs

    SupernetTrainer._draw = recording_draw
    try:
        manifest = tool.train_parts(parent, tmp_path, steps=3, lr=0.01)
    finally:
        SupernetTrainer._draw = original
    position = manifest["position"]
    assert manifest["parts"] == {"0": "part0", "1": "part1", "2": "part2"}
    assert json.loads((tmp_path / tool.FEW_SHOT_FILE).read_text()) == manifest
    # every part trained 3 steps, each on cells of its own part only
    assert sorted({int(a[position]) for a in archs} for archs in drawn.values()) == [{0}, {1}, {2}]
    assert all(len(archs) == 3 for archs in drawn.values())
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
