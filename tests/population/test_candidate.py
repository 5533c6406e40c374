"""An evolution candidate trains through the training floor's `fit` exactly as `samplenas retrain`
trains the same architecture, and a diverging candidate scores the worst fitness instead of failing."""

from __future__ import annotations

import numpy as np
import pytest

from samplenas.population.candidate import DIVERGED, CandidateSettings, evaluate_candidate, payload
from samplenas.supernet.factory import make_supernet, network_settings
from samplenas.training.fit import load_data
from samplenas.training.recipes import resolve_recipe
from samplenas.training.retrain import RetrainJob, retrain

SEED, LIMIT = 3, 96


def _setup(space: str, task: str, network: dict, **recipe_values):
    recipe = resolve_recipe(space, {"batch_size": 32, **recipe_values}, {"task": task, "epochs": 2, "network": network})
    settings = CandidateSettings(space, "digits", recipe.to_dict(), None, SEED, LIMIT, 0.1, "cpu")
    data = load_data({"data": "digits", "data_dir": None, "val_fraction": 0.1, "seed": SEED, "limit": LIMIT,
                      "recipe": recipe.to_dict()}, ("train", "val", "test"))
    space_obj = make_supernet(space, network_settings(space, recipe.network, data.info)).space
    return recipe, settings, data, space_obj.to_str(space_obj.sample(np.random.default_rng(1)))


@pytest.mark.parametrize(("space", "task", "network", "extra"), [
    ("autoencoder", "denoising", {"max_layers": 3, "num_reductions": 1}, {}),
    ("nasnet", "classification", {"C": 4, "layers": 2, "auxiliary": True}, {"drop_path": 0.2}),
])
def test_a_candidate_trains_and_tests_as_retrain_does(tmp_path, space, task, network, extra):
    recipe, settings, data, arch = _setup(space, task, network, **extra)
    result = evaluate_candidate(payload(settings, arch, test=True), data)
    job = RetrainJob(space=space, arch=arch, data="digits", out=tmp_path / "retrain", recipe=recipe, seed=SEED,
                     device="cpu", amp=False, channels_last=False, limit=LIMIT, progress=False, command=[])
    retrained = retrain(job)
    assert result["steps"] == retrained["steps"] > 0
    assert {k: v for k, v in result["test"].items() if k != "fitness"} == retrained["test"]
    assert (result["params"], result["macs"]) == (retrained["params"], retrained["macs"])


def test_a_diverging_candidate_scores_the_worst_fitness():
    _, settings, data, arch = _setup("nasnet", "classification", {"C": 4, "layers": 2}, lr=1e30, grad_clip=0.0)
    result = evaluate_candidate(payload(settings, arch), data)
    assert result["fitness"] == DIVERGED
    assert result["diverged"].startswith("training diverged at step ")
