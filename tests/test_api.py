"""The top-level Python API: `samplenas.load_dataset` and `samplenas.recalibrate_bn` work as their
docstrings show (the examples run here)."""

from __future__ import annotations

import re

import torch

import samplenas


def _examples(function) -> list[str]:
    """The code blocks (after `::`) of a docstring, dedented."""
    import textwrap

    blocks = re.findall(r"::\n\n((?:(?: {8}.*)?\n)+)", function.__doc__)
    return [textwrap.dedent(block) for block in blocks]


def test_the_docstring_examples_run():
    for function in (samplenas.load_dataset, samplenas.recalibrate_bn):
        (example,) = _examples(function)
        exec(compile(example, f"<{function.__name__} example>", "exec"), {})


def test_load_dataset_gives_the_splits_the_commands_train_on():
    data = samplenas.load_dataset("digits", val_fraction=0.2, seed=1)
    assert data.info.num_classes == 10 and data.info.input_shape == (1, 8, 8)
    images, labels = next(iter(torch.utils.data.DataLoader(data.val, batch_size=16)))
    assert images.shape == (16, 1, 8, 8) and images.dtype == torch.float32 and labels.dtype == torch.int64
    total = len(data.train) + len(data.val)
    assert abs(len(data.val) - 0.2 * total) <= 1  # validation is held out of the training set
    assert not set(data.val.origin) & set(data.train.origin)
    only = samplenas.load_dataset("digits", splits=("test",), limit=50)
    assert only.train is None and len(only.test) == 50


def test_recalibrate_bn_is_the_supernet_helper():
    from samplenas.supernet.bn import recalibrate_bn

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    batches = [torch.full((4, 1, 2, 2), 3.0)] * 2
    assert samplenas.recalibrate_bn(net, None, batches) == 2
    expected = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    expected.load_state_dict(net.state_dict())
    recalibrate_bn(expected, None, batches)
    assert torch.equal(net[1].running_mean, expected[1].running_mean) and not net.training
