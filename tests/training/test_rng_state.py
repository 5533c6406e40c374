"""Every global random stream captured and restored: the draws after a restore repeat those after the capture."""

from __future__ import annotations

import json
import random

import numpy as np
import torch

from samplenas.training.rng_state import capture_rng, restore_rng


def draws() -> list:
    return [random.random(), random.gauss(0, 1), float(np.random.rand()), float(torch.rand(1))]


def test_restored_streams_repeat_their_draws():
    state = capture_rng()
    first = draws()
    assert draws() != first
    plain = json.loads(json.dumps({k: v for k, v in state.items() if k not in ("torch", "cuda")}))  # JSON values
    restore_rng({**state, **plain})
    assert draws() == first
