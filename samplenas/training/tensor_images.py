"""In-memory image sets (uint8 tensors) batched by indexing, with seeded pad-crop-and-flip augmentation.

Small data sets live in memory and are batched with one indexing op, which is far faster on CPU than a
per-item DataLoader; the augmentation of each example is a pure function of (key, index), so a resumed
run sees the same crops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset


class TensorImages(Dataset):
    """In-memory images (uint8 N,C,H,W times `scale` gives [0, 1]), normalised on the way out.

    `batch(indices, key)` returns a whole batch with one indexing op, on the device the images are on
    (`to(device)` keeps a data set resident on a GPU). `image_size` other than the stored size resizes
    per batch (e.g. 8x8 digits shown to a net built for 16x16). `pad_crop` > 0 (the training split of
    an augmented RGB set) pads by that many black pixels, crops back at a random offset and flips half
    the images, as torchvision's RandomCrop(padding) + RandomHorizontalFlip do, but batched on tensors
    and drawn from `key` (seed, epoch) and each example's index only, so a resumed run sees the same
    crops; without a key nothing is augmented. `origin[i]` is example i's position in the file set it was
    loaded from, kept through every subset (what tells that validation and training never share an image).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, scale: float,
                 mean: Sequence[float], std: Sequence[float], image_size: int | None = None, pad_crop: int = 0,
                 origin: np.ndarray | None = None):
        self.images = images
        self.origin = np.arange(len(labels)) if origin is None else np.asarray(origin, dtype=np.int64)
        self.labels = labels.long()
        self.scale = float(scale)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
        self.image_size = int(image_size or images.shape[-1])
        self.pad_crop = int(pad_crop)
        self._draws: tuple[tuple[int, ...], np.ndarray] | None = None  # the last key's per-example draws

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices, key: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        indices = np.asarray(indices, dtype=np.int64)
        index = torch.as_tensor(indices, device=self.images.device)
        images = self.images[index]
        if self.pad_crop and key is not None:
            images = pad_crop_flip(images, self._augmentation(tuple(int(k) for k in key))[indices], self.pad_crop)
        x = images.float().div_(1.0 / self.scale)  # as torchvision's ToTensor: bitwise its values
        if x.shape[-1] != self.image_size:  # antialiased when shrinking, as PIL's Resize
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                              antialias=self.image_size < x.shape[-1])
        return (x - self.mean) / self.std, self.labels[index]

    def _augmentation(self, key: tuple[int, ...]) -> np.ndarray:
        """(row offset, column offset, flip) of every example for `key`: a pure function of the key."""
        if self._draws is None or self._draws[0] != key:
            rng = np.random.default_rng([*key, 0xC401])
            offsets = rng.integers(0, 2 * self.pad_crop + 1, size=(len(self), 2))
            flips = rng.random(len(self)) < 0.5
            self._draws = (key, np.column_stack([offsets, flips]).astype(np.int64))
        return self._draws[1]

    def __getitem__(self, i: int):
        x, y = self.batch([i])
        return x[0], y[0]

    def _like(self, images: torch.Tensor, labels: torch.Tensor, pad_crop: int, origin: np.ndarray,
              image_size: int | None = None) -> TensorImages:
        """A set with these images and this one's normalisation, batched at `image_size` (None: this one's)."""
        return TensorImages(images, labels, self.scale, self.mean.flatten().tolist(), self.std.flatten().tolist(),
                            image_size or self.image_size, pad_crop, origin)

    def subset(self, indices) -> TensorImages:
        indices = np.asarray(indices, dtype=np.int64)
        index = torch.as_tensor(indices, device=self.images.device)
        return self._like(self.images[index], self.labels[index], self.pad_crop, self.origin[indices])

    def augmented(self, pad: int) -> TensorImages:
        """The same images with random pad-`pad`-and-crop and flips on keyed batches."""
        return self._like(self.images, self.labels, pad, self.origin)

    def resized(self, image_size: int) -> TensorImages:
        """The same examples, batched at `image_size` pixels a side (a reduced-resolution proxy)."""
        return self._like(self.images, self.labels, self.pad_crop, self.origin, image_size)

    def to(self, device: torch.device | str) -> TensorImages:
        """The same data set held on `device` (batches are then made there, with no host copy)."""
        return self._like(self.images.to(device), self.labels.to(device), self.pad_crop, self.origin)


def pad_crop_flip(images: torch.Tensor, draws: np.ndarray, pad: int) -> torch.Tensor:
    """Crop image b of the zero-padded batch at (draws[b, 0], draws[b, 1]) and mirror it when draws[b, 2]
    (RandomCrop, then RandomHorizontalFlip): a view per image, copied once into the batch."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (pad, pad, pad, pad))
    out = torch.empty_like(images)
    for b, (row, column, flip) in enumerate(draws.tolist()):
        crop = padded[b, :, row:row + height, column:column + width]
        out[b] = crop.flip(-1) if flip else crop
    return out
