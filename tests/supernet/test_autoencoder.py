"""The autoencoder supernet: one path per architecture, exact extraction, gates, cost (tiny sizes)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from samplenas.errors import UserError
from samplenas.spaces.autoencoder import DROPOUT, EMPTY, AutoencoderSpace
from samplenas.supernet import SUPERNETS
from samplenas.supernet.autoencoder import AutoencoderSupernet, straight_through
from samplenas.supernet.bn import recalibrate_bn
from samplenas.supernet.cost import count_params
from samplenas.supernet.ops import SlicedConv2d, SlicedConvTranspose2d

MAX_LAYERS = 3
IN_CHANNELS = 2


def make_net(num_reductions: int = 2, in_channels: int = IN_CHANNELS, image_size: int = 8) -> AutoencoderSupernet:
    torch.manual_seed(0)
    return SUPERNETS["autoencoder"](
        in_channels=in_channels, image_size=image_size, max_layers=MAX_LAYERS, num_reductions=num_reductions
    )


NET = make_net()
SPACE = NET.space


@st.composite
def archs(draw):
    layers = draw(st.lists(st.integers(1, DROPOUT), min_size=1, max_size=MAX_LAYERS))
    return tuple(layers) + (EMPTY,) * (MAX_LAYERS - len(layers))


def inputs(batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, IN_CHANNELS, 8, 8, generator=torch.Generator().manual_seed(seed))


def shared_convs(net):
    return {name: m for name, m in net.named_modules() if isinstance(m, (SlicedConv2d, SlicedConvTranspose2d))}


@given(archs())
@settings(max_examples=25, deadline=None)
def test_extracted_subnet_computes_the_supernet_path(arch):
    NET.eval()
    x = inputs()
    with torch.no_grad():
        expected = NET(x, arch)
        got = NET.extract(arch).eval()(x)
    assert got.shape == x.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_train_mode_matches_too_given_the_same_dropout_stream():
    arch = SPACE.from_str("dropout2d,3x3conv2d:16,dropout2d")
    subnet = NET.extract(arch).train()
    NET.train()
    x = inputs()
    torch.manual_seed(7)
    expected = NET(x, arch)
    torch.manual_seed(7)
    got = subnet(x)
    torch.manual_seed(8)
    assert not torch.equal(NET(x, arch), expected)  # dropout really is active
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_extract_copies_and_build_is_the_same_network_freshly_initialised():
    arch = SPACE.from_str("5x5conv2d:8,1x1conv2d:64")
    extracted, built = NET.extract(arch), NET.build(arch)
    shapes = {k: v.shape for k, v in extracted.state_dict().items()}
    assert shapes == {k: v.shape for k, v in built.state_dict().items()}
    assert any(not torch.equal(v, built.state_dict()[k]) for k, v in extracted.state_dict().items())
    with torch.no_grad():
        for p in extracted.parameters():
            p.add_(1.0)
    assert NET.extract(arch).state_dict().keys() == shapes.keys()
    for key, value in NET.extract(arch).state_dict().items():
        assert not torch.equal(value, extracted.state_dict()[key])  # the supernet kept its weights
    built.load_state_dict(NET.extract(arch).state_dict())
    NET.eval()
    built.eval()
    x = inputs()
    torch.testing.assert_close(built(x), NET(x, arch), atol=1e-5, rtol=0)


def test_decoder_mirrors_the_encoder_back_to_the_input_channels():
    steps = NET.steps(SPACE.from_str("3x3conv2d:16,dropout2d,7x7conv2d:64"))
    summary = [(s.kind, s.in_channels, s.out_channels, s.kernel, s.relu) for s in steps]
    assert summary == [
        ("encode", 2, 16, 3, True),
        ("dropout", 16, 16, 1, False),
        ("encode", 16, 64, 7, True),
        ("reduce", 64, 128, 1, True),
        ("reduce", 128, 256, 1, True),
        ("dilate", 256, 128, 2, True),
        ("dilate", 128, 64, 2, True),
        ("decode", 64, 16, 7, True),
        ("dropout", 16, 16, 1, False),
        ("decode", 16, 2, 3, False),  # the last conv feeds tanh, no ReLU
    ]
    steps = NET.steps(SPACE.from_str("dropout2d,1x1conv2d:8"))
    assert [(s.kind, s.in_channels, s.out_channels, s.relu) for s in steps[-2:]] == [
        ("decode", 8, 2, False),
        ("dropout", 2, 2, False),
    ]


def test_only_the_chosen_path_runs_and_receives_gradients():
    arch = SPACE.from_str("dropout2d,3x3conv2d:32")
    ran = []
    handles = [m.register_forward_hook(lambda m, i, o, n=n: ran.append(n)) for n, m in shared_convs(NET).items()]
    try:
        NET.train()
        NET.zero_grad(set_to_none=True)
        NET(inputs(), arch).square().mean().backward()
    finally:
        for handle in handles:
            handle.remove()
    expected = ["encoder.1", "reductions.0", "reductions.1", "dilations.1", "dilations.0", "decoder.1"]
    assert ran == expected
    for name, module in shared_convs(NET).items():
        assert (module.weight.grad is not None) == (name in expected), name
    # only the slice in use gets gradient: 32 filters of the first shared conv that ran
    grad = NET.encoder[1].weight.grad
    assert grad[:32, :2, 2:5, 2:5].abs().sum() > 0
    assert grad[32:].abs().sum() == 0 and grad[:, 2:].abs().sum() == 0 and grad[:, :, :2].abs().sum() == 0


def test_gates_leave_the_output_and_pass_gradients_to_used_positions_only():
    arch = SPACE.from_str("3x3conv2d:8,dropout2d")
    NET.eval()
    x = inputs()
    gates = torch.tensor([0.3, 0.7, 0.2], requires_grad=True)
    out = NET(x, arch, gates)
    torch.testing.assert_close(out, NET(x, arch), atol=0, rtol=0)
    out.square().mean().backward()
    assert gates.grad[0] != 0 and gates.grad[1] != 0
    assert gates.grad[2] == 0  # an empty position did not run


def test_straight_through_is_one_forward_and_a_multiplication_backward():
    gate = torch.tensor(0.25, requires_grad=True)
    x = torch.tensor([2.0, -3.0])
    y = x * straight_through(gate)
    torch.testing.assert_close(y, x)
    y.sum().backward()
    assert gate.grad.item() == pytest.approx(-1.0)


def test_output_is_in_tanh_range_with_the_input_shape_even_in_training():
    NET.train()
    for text in ("7x7conv2d:64,dropout2d,dropout2d", "dropout2d", "1x1conv2d:8,dropout2d"):
        arch = SPACE.from_str(text)
        out = NET(100 * inputs(batch=3), arch)
        assert out.shape == (3, IN_CHANNELS, 8, 8)
        assert out.abs().max() <= 1.0


def test_cost_counts_convs_and_transposed_convs_by_hand():
    net = make_net(num_reductions=1, in_channels=1, image_size=8)
    arch = net.space.from_str("3x3conv2d:8")
    # conv 1->8 k3 (8*9+8), reduce 1x1 8->16 (16*8+16), dilate 2x2 16->8 (16*8*4+8), mirror 8->1 k3 (8*9+1)
    params = 80 + 144 + 520 + 73
    # per output pixel: 8x8x8*9, 16x8x8*8, per input pixel of the transpose: 16x4x4*8*4, 1x8x8*8*9
    macs = 4608 + 8192 + 8192 + 4608
    assert net.cost(arch) == {"params": params, "macs": macs}
    assert count_params(net.extract(arch)) == params
    dropout_only = net.space.from_str("dropout2d")
    # reduce 1->2 (2+2), dilate 2->1 (2*4+1); MACs 2*64*1 + 2*16*1*4
    assert net.cost(dropout_only) == {"params": 4 + 9, "macs": 128 + 128}


def test_batch_norm_recalibration_is_a_no_op_here():
    arch = SPACE.from_str("5x5conv2d:16")
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in NET.modules())
    NET.eval()
    x = inputs()
    before = NET(x, arch).detach()
    recalibrate_bn(NET, arch, [inputs(seed=1)])
    torch.testing.assert_close(NET(x, arch), before, atol=0, rtol=0)


def test_settings_and_input_checks():
    with pytest.raises(UserError, match="not divisible by 2\\^2"):
        AutoencoderSupernet(image_size=10, max_layers=2, num_reductions=2)
    with pytest.raises(UserError, match="either a space"):
        AutoencoderSupernet(space=AutoencoderSpace(max_layers=2), max_layers=2)
    net = AutoencoderSupernet(in_channels=3, image_size=28, space=AutoencoderSpace(max_layers=2))
    assert net.input_shape == (3, 28, 28) and net.space.num_reductions == 2
    arch = SPACE.from_str("3x3conv2d:8")
    with pytest.raises(ValueError, match="expected \\(N, 2, H, W\\)"):
        NET(torch.zeros(1, 3, 8, 8), arch)
    with pytest.raises(ValueError, match="divisible by 4"):
        NET(torch.zeros(1, 2, 6, 6), arch)


def test_sliced_transposed_conv_exports_the_slice_it_runs():
    torch.manual_seed(1)
    shared = SlicedConvTranspose2d(6, 5, 2, stride=2)
    x = torch.randn(2, 4, 3, 3)
    exported = shared.to_conv_transpose2d(4, 3)
    assert exported.weight.shape == (4, 3, 2, 2)
    torch.testing.assert_close(exported(x), shared(x, out_channels=3))
    assert shared(x).shape == (2, 5, 6, 6)
    with pytest.raises(ValueError, match="out_channels 6 outside 1..5"):
        shared(x, out_channels=6)
