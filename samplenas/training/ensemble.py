"""Ensembles of independently initialised copies against one monolithic model of the same budget.

After Bhargava & Surana, "Eager Training of Autoencoders in Parallel": N copies are trained in
lockstep on the same batches, each optionally stopped early ("eagerly") when its validation loss
has not improved for `patience` epochs (keeping its best weights). The combination is judged
against one model trained for the total number of optimiser steps the copies took, which on one
device is the same training time (the copies run one after another on each batch):

* classifiers: the averaged class probabilities against the single model's;
* autoencoders: the averaged reconstruction, and — as in the paper — a linear classifier
  (multinomial logistic regression) on the concatenated encoder features of the copies against
  one on the single model's features, when the data set has labels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samplenas.errors import UserError
from samplenas.training.batches import iterate_batches
from samplenas.training.distributed import World

MONOLITH_DIR = "monolithic"
FEATURE_GRID = 4  # encoder features are average-pooled to at most 4x4 per channel


class _Encoded(Exception):
    """Raised by the hook on the decoder's first module, carrying its input: ends the forward pass there."""


def _stop_at_decoder(module, args):
    raise _Encoded(args[0])


@torch.no_grad()
def latent_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The encoder output of a `ModularAutoencoder` for `x`, pooled and flattened.

    Its steps are the encoder, the reductions, then their mirror images, so the decoder starts
    at step len(steps) // 2; the encoder output is what enters that step's module. The pass stops
    there (the decoder, half the cost, is never run).
    """
    steps, ops = getattr(net, "steps", None), getattr(net, "ops", None)
    if steps is None or ops is None or len(ops) != len(steps):
        raise UserError(f"{type(net).__name__} exposes no encoder (expected an autoencoder's steps and ops)")
    handle = ops[len(steps) // 2].register_forward_pre_hook(_stop_at_decoder)
    try:
        net(x)
    except _Encoded as encoded:
        z = encoded.args[0].float()
    finally:
        handle.remove()
    grid = (min(FEATURE_GRID, z.shape[-2]), min(FEATURE_GRID, z.shape[-1]))
    return F.adaptive_avg_pool2d(z, grid).flatten(1)


def _features(nets: list[nn.Module], dataset, task, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    for net in nets:
        net.eval()
    xs, ys = [], []
    for x, y in iterate_batches(dataset, np.arange(len(dataset)), 256):
        clean = task.clean(x.to(device))
        xs.append(torch.cat([latent_features(net, clean) for net in nets], dim=1).cpu().numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def linear_probe(nets: list[nn.Module], data, task, world: World, seed: int) -> dict:
    """Test accuracy of a logistic regression on the nets' concatenated encoder features
    (fitted on the training split, standardised features)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x, train_y = _features(nets, data.train, task, world.device)
    test_x, test_y = _features(nets, data.test, task, world.device)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    probe.fit(train_x, train_y)
    return {"accuracy": float(probe.score(test_x, test_y)), "features": int(train_x.shape[1])}
