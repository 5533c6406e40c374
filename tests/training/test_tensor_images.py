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


def test_resized_keeps_the_examples_and_changes_only_the_side():
    """A reduced-resolution view: the same examples, labels and origins, batched at the new side (antialiased
    as PIL shrinks), with the augmentation kept."""
    from samplenas.training.tensor_images import TensorImages

    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    full = TensorImages(images, torch.arange(6), 1 / 255, [0.5] * 3, [0.25] * 3, pad_crop=2, origin=np.arange(10, 16))
    small = full.resized(4)
    x, y = small.batch([1, 4], key=(0, 0))
    assert x.shape == (2, 3, 4, 4) and y.tolist() == [1, 4]
    assert small.origin.tolist() == full.origin.tolist() and small.pad_crop == 2 and full.image_size == 8
    expected = torch.nn.functional.interpolate(full.batch([1, 4])[0], size=(4, 4), mode="bilinear",
                                               align_corners=False, antialias=True)
    assert torch.allclose(small.batch([1, 4])[0], expected, atol=1e-5)  # normalising commutes with the resize
