"""A PBT member's state comes back from its task on the CPU, structure and values unchanged."""

from __future__ import annotations

import torch

from samplenas.population.pbt_member import on_cpu


def test_on_cpu_keeps_the_structure_and_values_of_a_member_state():
    weight = torch.arange(6.0).reshape(2, 3)
    state = {"arch": [1, 2], "steps": 7, "model": {"w": weight},
             "optimizer": {"state": {0: {"momentum_buffer": weight * 2}}, "param_groups": [{"lr": 0.1, "params": [0]}]},
             "pair": (weight, None)}
    moved = on_cpu(state)
    assert moved["arch"] == [1, 2] and moved["steps"] == 7
    assert isinstance(moved["pair"], tuple) and moved["pair"][1] is None
    assert torch.equal(moved["optimizer"]["state"][0]["momentum_buffer"], weight * 2)
    assert moved["optimizer"]["param_groups"] == [{"lr": 0.1, "params": [0]}]
    assert all(t.device.type == "cpu" for t in (moved["model"]["w"], moved["pair"][0]))
