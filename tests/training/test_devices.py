"""The device a command runs on: a named one it has, or one line saying why not."""

from __future__ import annotations

import pytest
import torch

from samplenas.errors import UserError
from samplenas.training.devices import resolve_device


def test_cpu_and_the_default_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize(("name", "message"), [("tpu", "not a device samplenas runs on"),
                                               ("meta", "not a device samplenas runs on"),
                                               ("cuda:99", "requested but")])
def test_a_device_it_lacks_is_one_line(name, message):
    with pytest.raises(UserError, match=message):
        resolve_device(name)
