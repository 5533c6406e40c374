"""Every weight-sharing supernet keeps the `Supernet` contract: extraction computes the supernet's path
with copied weights, `build` is the same network freshly initialised, `cost` counts it, gates pass
gradients, and bad architectures or gates are refused before any tensor work (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samplenas.spaces import InvalidArchitecture
from samplenas.spaces.nasbench101 import EDGES, NUM_EDGE_BITS
from samplenas.supernet import SUPERNETS

TINY = {
    "nb101": dict(stem_channels=8, num_stacks=2, cells_per_stack=1, num_classes=5, image_size=8),
    "nasnet": dict(C=4, layers=4, num_classes=5, image_size=8),
    "shufflenet": dict(num_classes=5, image_size=32, stem_channels=4, stage_channels=(8, 16, 24, 32),
                       last_channels=16),
    "autoencoder": dict(in_channels=2, image_size=8, max_layers=3, num_reductions=2),
}


def nb101_arch(edges, ops=(0, 0, 0, 0, 0)) -> tuple[int, ...]:
    return tuple(int(edge in edges) for edge in EDGES) + tuple(ops)


CHAIN = nb101_arch([(0, 1), (1, 2), (2, 6)], ops=(0, 2, 1, 1, 1))
# Architectures each space refuses: wrong length, a choice out of range, and each space's own rules.
INVALID = {
    "nb101": [nb101_arch([(0, 1), (1, 2)]),  # output unreachable
              nb101_arch([(0, j) for j in range(1, 7)] + [(1, 2), (1, 3), (1, 4), (1, 5)]),  # 10 edges
              CHAIN[:-1], CHAIN[:-1] + (3,)],
    "nasnet": [(1,) * 27, (9,) * 28, (0, 0) + (1,) * 26],  # a node without input
    "shufflenet": [(0, 0, 4) + (0,) * 17, (0,) * 19, (7,) * 20],
    "autoencoder": [(0, 0, 0), (0, 5, 0), (1, 2), (18, 0, 0)],  # empty, a layer after a gap
}


def test_every_supernet_is_covered():
    assert set(SUPERNETS.names()) - {"dnc"} == set(TINY)  # dnc builds fixed networks, shares no weights
    assert NUM_EDGE_BITS == len(EDGES)


@pytest.fixture(params=sorted(TINY), scope="module")
def name(request) -> str:
    return request.param


def make(name):
    torch.manual_seed(0)
    return SUPERNETS[name](**TINY[name])


def images(supernet, n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, *supernet.input_shape, generator=torch.Generator().manual_seed(seed))


def sampled(supernet, count: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [supernet.space.sample(rng) for _ in range(count)]


def settle_bn(supernet, archs) -> None:
    """A few train-mode passes so batch-norm running statistics are not the trivial initial ones."""
    supernet.train()
    with torch.no_grad():
        for step, arch in enumerate(archs * 2):
            supernet(images(supernet, 4, seed=100 + step), arch)
    supernet.eval()


def test_extract_computes_the_supernet_path_in_eval_mode(name):
    supernet = make(name)
    archs = sampled(supernet, 3)
    settle_bn(supernet, archs)
    x = images(supernet)
    for arch in archs:
        subnet = supernet.extract(arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(subnet(x), supernet(x, arch), atol=1e-5, rtol=1e-5)


def test_extract_copies_the_shared_weights(name):
    supernet = make(name)
    arch = sampled(supernet, 1)[0]
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    with torch.no_grad():
        for p in supernet.extract(arch).parameters():
            p.add_(1.0)
    after = supernet.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_build_is_the_extracted_network_freshly_initialised_and_cost_counts_it(name):
    supernet = make(name)
    arch = sampled(supernet, 1, seed=1)[0]
    extracted, built = supernet.extract(arch), supernet.build(arch)
    fresh = built.state_dict()  # may hold more (NASNet builds affine batch norms, as DARTS retrains)
    assert all(k in fresh and fresh[k].shape == v.shape for k, v in extracted.state_dict().items())
    assert any(not torch.equal(v, fresh[k]) for k, v in extracted.state_dict().items())
    cost = supernet.cost(arch)
    assert cost["params"] == sum(p.numel() for p in built.parameters() if p.requires_grad) and cost["macs"] > 0
    assert supernet.cost(arch) == cost


def test_cost_and_param_count_leave_the_global_random_stream_alone(name):
    """A budget costs cells lazily (a resumed run recomputes what the first run had cached), so the cost
    must not consume the random stream that training's dropout draws from, or resume would not be exact."""
    supernet = make(name)
    arch = sampled(supernet, 1, seed=3)[0]
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    supernet.cost(arch)
    supernet.param_count(sampled(supernet, 1, seed=4)[0])
    assert torch.equal(torch.rand(3), expected)


def test_param_count_is_the_costs_parameter_count(name):
    supernet = make(name)
    for arch in sampled(supernet, 3, seed=5):
        assert supernet.param_count(arch) == supernet.cost(arch)["params"]


def test_unit_gates_leave_the_output_and_receive_gradients(name):
    supernet = make(name).eval()
    arch = sampled(supernet, 1, seed=2)[0]
    x = images(supernet, 2)
    gates = torch.ones(len(supernet.space.dims), requires_grad=True)
    out = supernet(x, arch, gates)
    with torch.no_grad():
        torch.testing.assert_close(out, supernet(x, arch))
    (out * torch.randn_like(out)).sum().backward()
    assert gates.grad is not None and torch.count_nonzero(gates.grad) > 0


def test_gates_of_the_wrong_length_are_refused(name):
    supernet = make(name)
    arch = sampled(supernet, 1)[0]
    with pytest.raises(ValueError, match="gates"):
        supernet(images(supernet, 1), arch, torch.ones(len(supernet.space.dims) - 1))


@pytest.mark.parametrize("kind, bad", [(kind, bad) for kind, bads in INVALID.items() for bad in bads])
def test_invalid_architectures_are_refused_before_any_tensor_work(kind, bad):
    supernet = make(kind)
    ran = []
    handles = [m.register_forward_hook(lambda *_: ran.append(1)) for m in supernet.modules() if m is not supernet]
    try:
        with pytest.raises(InvalidArchitecture):
            supernet(object(), bad)  # not even a tensor: the architecture is checked first
        with pytest.raises(InvalidArchitecture):
            supernet(images(supernet, 1), bad)
    finally:
        for handle in handles:
            handle.remove()
    assert ran == []
    for method in (supernet.extract, supernet.build, supernet.cost):
        with pytest.raises(InvalidArchitecture):
            method(bad)
