"""Bitwise resume with random augmentation and DataLoader workers (issue 14).

The augmentation of an example is a function of (seed, epoch, index) only (`data.SeededItems`), so a
run interrupted mid-epoch and resumed sees exactly the crops and flips the uninterrupted run saw,
with 0 or 2 loader workers. Both entry points are covered: `retrain` (augmentation on by default)
and supernet `train --augment`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from samplenas.training.batches import iterate_batches
from samplenas.training.checkpoint import CHECKPOINT, load_checkpoint
from samplenas.training.data import load_dataset
from samplenas.training.recipes import resolve_recipe
from samplenas.training.retrain import retrain
from samplenas.training.retrainer import RetrainJob
from samplenas.training.supernet_train import SupernetTrainer
from samplenas.training.train_config import TrainConfig

NB101_CELL = "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6"
TINY = {"stem_channels": 5, "num_stacks": 1, "cells_per_stack": 1}


@pytest.fixture(scope="module")
def rgb_dir(tmp_path_factory):
    """A tiny CIFAR-10-JPEG-shaped folder: 10 classes, 4 training and 1 test image each, 32x32 RGB."""
    root = tmp_path_factory.mktemp("rgb")
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("test", 1)):
        for label in range(10):
            folder = root / "cifar10-jpeg" / split / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def test_augmentation_is_a_function_of_key_and_index_only(rgb_dir):
    data = load_dataset("cifar10-jpeg", rgb_dir, ("train",), augment=True)
    order = np.arange(8)
    first = [x for x, _ in iterate_batches(data.train, order, 4, key=(0, 1))]
    torch.rand(100)  # the global stream moves: must not matter
    again = [x for x, _ in iterate_batches(data.train, order[4:], 4, key=(0, 1))]
    other_epoch = [x for x, _ in iterate_batches(data.train, order, 4, key=(0, 2))]
    assert torch.equal(first[1], again[0])  # a mid-epoch restart sees the same augmented batch
    assert not torch.equal(first[0], other_epoch[0])  # another epoch draws other crops
    state = torch.get_rng_state()
    list(iterate_batches(data.train, order, 4, key=(0, 1)))
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left as it was


def _job(rgb_dir, out, workers, **changes) -> RetrainJob:
    recipe = resolve_recipe("nb101", {"epochs": 2, "batch_size": 8, "optimizer": "sgd", "lr": 0.05,
                                      "network": TINY, "augment": True})
    return RetrainJob(space="nb101", arch=NB101_CELL, data="cifar10-jpeg", data_dir=str(rgb_dir), out=out,
                      recipe=recipe, loader_workers=workers, progress=False, **changes)


@pytest.mark.parametrize("workers", [0, 2])
def test_retrain_resumed_mid_epoch_with_augmentation_is_bitwise(rgb_dir, tmp_path, workers):
    retrain(_job(rgb_dir, tmp_path / "full", workers))
    assert retrain(_job(rgb_dir, tmp_path / "cut", workers, stop_after=2, checkpoint_steps=1)) is None  # epoch 1
    assert retrain(_job(rgb_dir, tmp_path / "cut", workers, stop_after=3, resume=True)) is None  # into epoch 2
    retrain(_job(rgb_dir, tmp_path / "cut", workers, resume=True))
    full, cut = (load_checkpoint(tmp_path / name / CHECKPOINT)["members"][0]["model"] for name in ("full", "cut"))
    assert full.keys() == cut.keys()
    assert [n for n in full if not torch.equal(full[n], cut[n])] == []


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("workers", [0, 2])
def test_supernet_train_resumed_mid_epoch_with_augmentation_is_bitwise(rgb_dir, tmp_path, workers, monkeypatch):
    def config() -> TrainConfig:
        return TrainConfig(space="nb101", sampler="uniform", data="cifar10-jpeg", data_dir=str(rgb_dir),
                           augment=True, steps=7, batch_size=8, eval_every=0, bn_batches=0, checkpoint_every=2,
                           loader_workers=workers, network=TINY, device="cpu")

    SupernetTrainer(config(), progress=False).train(tmp_path / "full")
    victim = SupernetTrainer(config(), progress=False)
    real_step = victim.train_step

    def step_then_die(out):
        metrics = real_step(out)
        if victim.step == 3:  # one step past the checkpoint of step 2, mid-epoch (4 batches per epoch)
            raise Interrupted
        return metrics

    monkeypatch.setattr(victim, "train_step", step_then_die)
    with pytest.raises(Interrupted):
        victim.train(tmp_path / "cut")
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"] == 2
    SupernetTrainer(config(), progress=False).train(tmp_path / "cut", resume=True)
    full, cut = (load_checkpoint(tmp_path / name / "checkpoint.pt")["model"] for name in ("full", "cut"))
    assert [n for n in full if not torch.equal(full[n], cut[n])] == []
