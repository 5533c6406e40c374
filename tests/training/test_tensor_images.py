"""Batched pad-crop-flip augmentation of in-memory images."""

from __future__ import annotations

import numpy as np
import torch

from samplenas.training.tensor_images import pad_crop_flip


def test_pad_crop_flip_is_torchvision_random_crop_then_flip():
    from torchvision.transforms import functional as TF

    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    draws = np.array([[0, 0, 0], [2, 1, 1], [4, 4, 0], [3, 0, 1], [1, 2, 0]])
    out = pad_crop_flip(images, draws, 2)
    for b, (row, column, flip) in enumerate(draws):
        expected = TF.crop(TF.pad(images[b], [2]), int(row), int(column), 8, 8)
        assert torch.equal(out[b], TF.hflip(expected) if flip else expected)
