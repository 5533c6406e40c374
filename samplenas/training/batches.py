"""Batches of a data set: seeded, resumable training streams and fixed evaluation batches.

`BatchStream` gives an endless, seeded, resumable sequence of training batches: the order depends only
on (seed, epoch, position), so a resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from samplenas.errors import UserError
from samplenas.training.tensor_images import TensorImages


class SeededItems(Dataset):
    """A dataset whose transforms draw from torch's global RNG (torchvision's random crop and flip),
    made a pure function of (key, index): item `(key, i)` is produced with the CPU generator seeded
    from (*key, i) and the caller's RNG state restored afterwards.

    Without this the augmentation of an example depended on how far the global stream had advanced
    (and on when a DataLoader iterator drew its worker seeds), so a run resumed mid-epoch saw other
    crops than the uninterrupted run. Keyed by (seed, epoch), it is the same with 0 or N workers.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        key, index = item
        state = torch.get_rng_state()
        torch.default_generator.manual_seed(int(np.random.SeedSequence([*key, int(index)]).generate_state(1)[0]))
        try:
            return self.dataset[index]
        finally:
            torch.set_rng_state(state)


def iterate_batches(dataset: Dataset, indices: Sequence[int], batch_size: int, num_workers: int = 0,
                    key: Sequence[int] = ()) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) batches over `indices` in the given order.

    key: non-negative ints (e.g. seed, epoch) that, with each example's index, fix its random
    augmentation; the global RNG is neither used nor advanced (the DataLoader gets its own generator).
    """
    if isinstance(dataset, TensorImages):
        for start in range(0, len(indices), batch_size):
            yield dataset.batch(indices[start:start + batch_size], key)
        return
    key = tuple(int(k) for k in key)
    chunks = [[(key, int(i)) for i in indices[start:start + batch_size]]
              for start in range(0, len(indices), batch_size)]
    yield from DataLoader(SeededItems(dataset), batch_sampler=chunks, num_workers=num_workers,
                          generator=torch.Generator())


def in_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Image batches (N, C, H, W) laid out channels-last when asked; anything else as it is."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def eval_batches(dataset: Dataset, batch_size: int, limit: int | None = None, num_workers: int = 0):
    """The first `limit` examples (all by default) in stored order: the same every time."""
    n = len(dataset) if limit is None else min(len(dataset), int(limit))
    return iterate_batches(dataset, np.arange(n), batch_size, num_workers)


class BatchStream:
    """An endless stream of training batches whose order depends only on (seed, epoch, position).

    Epoch e visits the examples in the permutation drawn from `default_rng([seed, e])`; the last
    incomplete batch of an epoch is dropped so every batch has `batch_size` examples. `state_dict`
    is (epoch, position); after `load_state_dict` the stream continues exactly where it stopped.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0, num_workers: int = 0):
        if len(dataset) < batch_size:
            raise UserError(f"batch size {batch_size} exceeds the {len(dataset)} training examples")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.num_workers = num_workers
        self.epoch = 0
        self.position = 0  # batches already taken in this epoch
        self._iterator: Iterator | None = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.dataset) // self.batch_size

    def remaining_order(self) -> np.ndarray:
        """The example indices this epoch still has to visit, whole batches only."""
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.dataset))
        return order[self.position * self.batch_size: self.batches_per_epoch * self.batch_size]

    def _start(self) -> None:
        self._iterator = iterate_batches(self.dataset, self.remaining_order(), self.batch_size, self.num_workers,
                                         key=(self.seed, self.epoch))

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.position >= self.batches_per_epoch:
            self.epoch, self.position, self._iterator = self.epoch + 1, 0, None
        if self._iterator is None:
            self._start()
        batch = next(self._iterator)
        self.position += 1
        return batch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), int(state["position"])
        self._iterator = None
