"""Resumable training batch streams."""

from __future__ import annotations

import pytest
import torch

from samplenas.errors import UserError
from samplenas.training.batches import BatchStream
from samplenas.training.data import load_dataset


def test_batch_stream_resumes_exactly():
    dataset = load_dataset("digits", splits=("train",)).train
    full = BatchStream(dataset, 100, seed=3)
    reference = [full.next()[1] for _ in range(30)]  # crosses two epoch boundaries
    first = BatchStream(dataset, 100, seed=3)
    head = [first.next()[1] for _ in range(17)]
    resumed = BatchStream(dataset, 100, seed=0)
    resumed.load_state_dict(first.state_dict())
    tail = [resumed.next()[1] for _ in range(13)]
    assert all(torch.equal(a, b) for a, b in zip(reference, head + tail))
    per_epoch = full.batches_per_epoch
    assert per_epoch == len(dataset) // 100
    assert not torch.equal(reference[0], reference[per_epoch])  # a fresh permutation each epoch


def test_batch_stream_rejects_oversized_batch():
    dataset = load_dataset("digits", splits=("val",)).val
    with pytest.raises(UserError, match="exceeds"):
        BatchStream(dataset, len(dataset) + 1)
