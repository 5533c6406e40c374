"""The SPOS ShuffleNet supernet: path-only execution, extraction, gates, layouts and cost."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from samplenas.errors import UserError
from samplenas.spaces import InvalidArchitecture
from samplenas.supernet import SUPERNETS
from samplenas.supernet.bn import recalibrate_bn
from samplenas.supernet.cost import count_cost
from samplenas.supernet.shufflenet import (
    ChoiceUnit,
    LayerShape,
    ShuffleNetChain,
    ShuffleNetConfig,
    ShuffleNetSupernet,
    SqueezeExcite,
)

TINY = dict(num_classes=5, image_size=32, stem_channels=4, stage_channels=(8, 16, 24, 32), last_channels=16)
SPOS_BLOCK_SEARCH = (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3)
ALL = {"3x3": (0,) * 20, "xc3": (3,) * 20, "mixed": (1, 2, 3, 0) * 5, "spos": SPOS_BLOCK_SEARCH}


def tiny(**overrides) -> ShuffleNetSupernet:
    torch.manual_seed(0)
    return ShuffleNetSupernet(**{**TINY, **overrides})


def images(n: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def warm_up_bn(net: ShuffleNetSupernet, rng: np.random.Generator) -> None:
    """A few train-mode passes so BN running statistics are not the trivial initial ones."""
    net.train()
    with torch.no_grad():
        for step in range(6):
            net(images(seed=step), net.space.sample(rng))
    net.eval()


def test_registry_builds_the_supernet():
    net = SUPERNETS["shufflenet"](**TINY)
    assert isinstance(net, ShuffleNetSupernet)
    assert net(images(), (0,) * 20).shape == (2, 5)


@pytest.mark.parametrize("vaenas_variant", [False, True])
def test_extract_equals_forward_in_eval(vaenas_variant):
    net = tiny(vaenas_variant=vaenas_variant)
    rng = np.random.default_rng(0)
    warm_up_bn(net, rng)
    x = images(seed=99)
    for arch in [*ALL.values(), net.space.sample(rng), net.space.sample(rng)]:
        subnet = net.extract(arch).eval()
        with torch.no_grad():
            expected, got = net(x, arch), subnet(x)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_extracted_subnet_is_standalone_copy():
    net = tiny()
    arch = ALL["mixed"]
    subnet = net.extract(arch).eval()
    keys = set(subnet.state_dict())
    assert keys < {k.removeprefix("net.") for k in net.state_dict()}
    assert all(f"layers.{i}.{c}." in "".join(keys) for i, c in enumerate(arch))
    assert not any(k.startswith(f"layers.0.{c}.") for k in keys for c in range(4) if c != arch[0])
    x = images()
    with torch.no_grad():
        before = subnet(x)
        for p in net.parameters():
            p.add_(1.0)
        torch.testing.assert_close(subnet(x), before, rtol=0, atol=0)


def test_build_is_the_same_network_freshly_initialised():
    net = tiny()
    arch = ALL["mixed"]
    extracted, built = net.extract(arch), net.build(arch)
    assert isinstance(built, ShuffleNetChain)
    shapes = {k: v.shape for k, v in extracted.state_dict().items()}
    assert shapes == {k: v.shape for k, v in built.state_dict().items()}
    weight = f"layers.0.{arch[0]}.main.0.weight"
    assert not torch.equal(extracted.state_dict()[weight], built.state_dict()[weight])
    assert sum(p.numel() for p in built.parameters()) == net.cost(arch)["params"]


def test_only_the_chosen_units_run_and_get_gradients():
    net = tiny().train()
    calls: dict[tuple[int, str], int] = {}
    for i, layer in enumerate(net.net.layers):
        for choice, unit in layer.items():
            unit.register_forward_hook(lambda *_, key=(i, choice): calls.__setitem__(key, calls.get(key, 0) + 1))
    arch = net.space.sample(np.random.default_rng(5))
    net(images(), arch).sum().backward()
    assert calls == {(i, str(c)): 1 for i, c in enumerate(arch)}
    for i, layer in enumerate(net.net.layers):
        for choice, unit in layer.items():
            grads = [p.grad for p in unit.parameters()]
            if choice == str(arch[i]):
                assert all(g is not None for g in grads) and grads[0].abs().sum() > 0
            else:
                assert all(g is None for g in grads)


def test_gates_are_straight_through():
    net = tiny().eval()
    arch = ALL["mixed"]
    x = images()
    gates = torch.full((20,), 0.3, requires_grad=True)
    with torch.no_grad():
        plain = net(x, arch)
    out = net(x, arch, gates)
    torch.testing.assert_close(out, plain, rtol=0, atol=0)  # forward value of every gate is 1
    out.square().sum().backward()
    assert gates.grad is not None and torch.all(gates.grad != 0)


@pytest.mark.parametrize("layer", [1, 4])  # a stride-1 unit (main branch scaled), a projecting unit
def test_gate_gradient_matches_scaling_the_choice_output(layer):
    """d loss / d gate_i equals the derivative of the loss when layer i's choice output is scaled."""
    net = tiny().double().eval()
    arch = ALL["mixed"]
    x = images().double()
    gates = torch.ones(20, dtype=torch.float64, requires_grad=True)
    net(x, arch, gates).square().sum().backward()

    unit = net.net.layers[layer][str(arch[layer])]
    target = unit.main if unit.proj is None else unit  # what the gate multiplies (shuffle commutes)

    def loss_with_scale(scale: float) -> float:
        handle = target.register_forward_hook(lambda module, inputs, output: output * scale)
        try:
            with torch.no_grad():
                return float(net(x, arch).square().sum())
        finally:
            handle.remove()

    eps = 1e-6
    numeric = (loss_with_scale(1 + eps) - loss_with_scale(1 - eps)) / (2 * eps)
    assert gates.grad[layer].item() == pytest.approx(numeric, rel=1e-5)


def test_an_extracted_chain_refuses_other_architectures():  # the supernet's refusals: test_contract.py
    subnet = tiny().extract((0,) * 20)
    not_an_image = torch.zeros(3)
    with pytest.raises(InvalidArchitecture, match="no choice 1 at layer 0"):
        subnet(not_an_image, (1,) + (0,) * 19)
    with pytest.raises(InvalidArchitecture, match="has 3 layers, expected 20"):
        subnet(not_an_image, (0, 0, 0))


def stage_resolutions(net: ShuffleNetSupernet, size: int) -> list[int]:
    """Spatial size after the stem and after each stage's last unit."""
    seen = []
    ends = {3, 7, 15, 19}
    hooks = [net.net.stem.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))]
    for i, layer in enumerate(net.net.layers):
        if i in ends:
            hooks.append(layer["0"].register_forward_hook(lambda m, i, o: seen.append(o.shape[-1])))
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, size, size), (0,) * 20)
    for h in hooks:
        h.remove()
    return seen


def test_cifar_layout_has_stride_one_stem_and_first_stage():
    assert stage_resolutions(tiny(), 32) == [32, 32, 16, 8, 4]


def test_imagenet_layout_downsamples_every_stage_without_max_pool():
    net = tiny(image_size=128)
    assert stage_resolutions(net, 128) == [64, 32, 16, 8, 4]
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.modules())


def test_width_multiplier_and_spos_widths():
    assert ShuffleNetConfig().widths() == (64, 160, 320, 640)
    assert ShuffleNetConfig(width_mult=0.5).widths() == (32, 80, 160, 320)
    assert all(w % 4 == 0 for w in ShuffleNetConfig(width_mult=0.7).widths())
    net = ShuffleNetSupernet(num_classes=3, image_size=32, width_mult=0.5, stem_channels=8, last_channels=32)
    assert net(images(), ALL["xc3"]).shape == (2, 3)
    assert net.net.layers[19]["3"].main[-3].out_channels == 160  # half of the last stage's 320


@pytest.mark.parametrize(
    "settings, words",
    [
        (dict(width_mult=0.25), "stage 0 width 16 must exceed its input width 16"),
        (dict(stage_channels=(8, 16, 24)), "needs 4 widths"),
        (dict(stage_channels=(8, 15, 24, 32), stem_channels=4), "must be even"),
        (dict(image_size=36), "multiple of 8"),
        (dict(image_size=224 + 16), "multiple of 32"),
        (dict(num_classes=0), "num_classes must be positive"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_bad_settings_name_the_problem(settings, words):
    with pytest.raises(UserError, match=words):
        ShuffleNetSupernet(**settings)


def test_vaenas_variant_uses_swish_and_se_where_the_paper_says():
    net = tiny(vaenas_variant=True)
    layer = net.net.layers[5]
    for choice, swish, se in [("0", False, False), ("1", True, False), ("2", True, True), ("3", True, True)]:
        modules = list(layer[choice].modules())
        assert any(isinstance(m, nn.SiLU) for m in modules) == swish
        assert any(isinstance(m, nn.ReLU) for m in modules) == (not swish)
        assert any(isinstance(m, SqueezeExcite) for m in modules) == se
    plain = tiny()
    assert not any(isinstance(m, (nn.SiLU, SqueezeExcite)) for m in plain.modules())


def test_every_choice_block_has_its_own_batch_norm():
    net = tiny()
    norms = [id(m) for layer in net.net.layers for unit in layer.values() for m in unit.modules()
             if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == len(set(norms)) > 0
    assert all(m.affine for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    assert not any(m.affine for m in tiny(bn_affine=False).modules() if isinstance(m, nn.BatchNorm2d))


def test_bn_recalibration_touches_only_the_path_and_keeps_extraction_exact():
    net = tiny()
    arch = ALL["mixed"]
    used = recalibrate_bn(net, arch, [images(seed=s) for s in range(3)])
    assert used == 3
    chosen = net.net.layers[0][str(arch[0])].main[1]
    other = net.net.layers[0][str((arch[0] + 1) % 4)].main[1]
    assert int(chosen.num_batches_tracked) == 3 and int(other.num_batches_tracked) == 0
    with torch.no_grad():
        torch.testing.assert_close(net.extract(arch).eval()(images()), net(images(), arch), atol=1e-5, rtol=1e-5)


def plain_unit_macs(choice: int, cin: int, cout: int, stride: int, project: bool, hw_in: int) -> int:
    """Multiply-adds of one plain unit, from the ShuffleNetV2/SPOS unit definition."""
    hw = hw_in // stride
    main_in = cin if project else cin // 2
    main_out, mid = cout - main_in, cout // 2
    k = (3, 5, 7, 3)[choice]
    if choice == 3:
        main = (main_in * 9 * hw**2 + main_in * mid * hw**2 + mid * 9 * hw**2 + mid * mid * hw**2
                + mid * 9 * hw**2 + mid * main_out * hw**2)
    else:
        main = main_in * mid * hw_in**2 + mid * k * k * hw**2 + mid * main_out * hw**2
    proj = (main_in * k * k * hw**2 + main_in * main_in * hw**2) if project else 0
    return main + proj


@pytest.mark.parametrize("name", list(ALL))
def test_cost_matches_hand_count(name):
    net = tiny()
    arch = ALL[name]
    macs = 3 * 4 * 9 * 32 * 32  # stem
    cin, hw = 4, 32
    for i, (width, stride) in enumerate(zip((8, 16, 24, 32), (1, 2, 2, 2))):
        for j in range(4 if i != 2 else 8):
            layer = [0, 4, 8, 16][i] + j
            first = j == 0
            macs += plain_unit_macs(arch[layer], cin, width, stride if first else 1, first, hw)
            hw //= stride if first else 1
            cin = width
    macs += 32 * 16 * 4 * 4 + 16 * 5  # last conv at 4x4, classifier
    cost = net.cost(arch)
    assert cost["macs"] == macs
    assert cost == net.cost(arch) and cost is not net.cost(arch)  # cached, returned as a copy


def test_published_spos_block_search_model_cost():
    """SPOS's searched block-only model, megvii-model/SinglePathOneShot README: 323M FLOPs, 3.5M
    params at 224x224 with 1.0x channels."""
    net = ShuffleNetChain(ShuffleNetConfig(), [[c] for c in SPOS_BLOCK_SEARCH])
    cost = count_cost(net, (3, 224, 224))
    assert cost["macs"] / 1e6 == pytest.approx(323, abs=1.0)
    assert cost["params"] / 1e6 == pytest.approx(3.5, abs=0.1)


def test_projecting_unit_without_stride_keeps_resolution_and_widens():
    """A projecting unit concatenates projection (input width) and main branch (the rest)."""
    unit = ChoiceUnit(0, LayerShape(4, 8, 1, True))
    assert unit(torch.zeros(1, 4, 6, 6)).shape == (1, 8, 6, 6)
