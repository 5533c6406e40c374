"""Shared-weight slicing ops: slices equal plain convs/norms and export faithfully."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from samplenas.supernet.bn import recalibrate_bn
from samplenas.supernet.ops import SlicedBatchNorm2d, SlicedConv2d, SlicedConvBnRelu, conv_bn_relu


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize(
    ("in_ch", "out_ch", "k", "stride", "dilation"), [(3, 5, 3, 1, 1), (6, 2, 1, 2, 1), (4, 8, 5, 1, 2)]
)
def test_sliced_conv_matches_cropped_plain_conv(in_ch, out_ch, k, stride, dilation, bias):
    torch.manual_seed(0)
    conv = SlicedConv2d(6, 8, 5, stride=stride, dilation=dilation, bias=bias)
    x = torch.randn(2, in_ch, 9, 9)
    start = (5 - k) // 2
    weight = conv.weight[:out_ch, :in_ch, start : start + k, start : start + k]
    expected = F.conv2d(x, weight, conv.bias[:out_ch] if bias else None, stride, dilation * (k - 1) // 2, dilation)
    out = conv(x, out_channels=out_ch, kernel_size=k)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected)
    exported = conv.to_conv2d(in_ch, out_ch, k)
    torch.testing.assert_close(exported(x), out)
    # the export is a copy: changing it leaves the shared weight alone
    with torch.no_grad():
        exported.weight.zero_()
    assert conv.weight.abs().sum() > 0


def test_sliced_conv_centre_crop_of_kernel():
    conv = SlicedConv2d(1, 1, 5)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(25.0).view(1, 1, 5, 5))
    assert conv.sliced_weight(1, 1, 1).item() == 12.0
    assert conv.sliced_weight(1, 1, 3).flatten().tolist() == [6, 7, 8, 11, 12, 13, 16, 17, 18]


def test_sliced_conv_full_width_by_default_and_gradient_reaches_shared_weight():
    conv = SlicedConv2d(4, 6, 3)
    out = conv(torch.randn(2, 2, 5, 5), out_channels=3)
    assert out.shape == (2, 3, 5, 5)
    out.sum().backward()
    assert conv.weight.grad[:3, :2].abs().sum() > 0
    assert conv.weight.grad[3:].abs().sum() == 0 and conv.weight.grad[:, 2:].abs().sum() == 0
    assert conv(torch.randn(1, 4, 5, 5)).shape == (1, 6, 5, 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"out_channels": 7}, "out_channels 7"),
        ({"kernel_size": 2}, "odd"),
        ({"kernel_size": 5}, "kernel_size 5"),
    ],
)
def test_sliced_conv_rejects_out_of_range_slices(kwargs, message):
    conv = SlicedConv2d(4, 6, 3)
    with pytest.raises(ValueError, match=message):
        conv(torch.randn(1, 2, 5, 5), **kwargs)
    with pytest.raises(ValueError, match="in_channels 5"):
        conv(torch.randn(1, 5, 5, 5))


def test_sliced_conv_with_copies_runs_and_exports_the_coded_combination():
    torch.manual_seed(0)
    conv = SlicedConv2d(4, 6, 3, copies=3)
    copies = [conv.weight, *conv.other_weights]
    assert len(copies) == 3 and all(w.shape == (6, 4, 3, 3) for w in copies)
    assert not torch.equal(copies[0], copies[1])  # identical copies would never diverge
    code = torch.tensor([0.5, 0.3, 0.2])
    x = torch.randn(2, 3, 5, 5)
    mixed = sum(c * w[:5, :3, 1:2, 1:2] for c, w in zip(code, copies))
    out = conv(x, out_channels=5, kernel_size=1, code=code)
    torch.testing.assert_close(out, F.conv2d(x, mixed, None, 1, 0))
    torch.testing.assert_close(conv.to_conv2d(3, 5, 1, code=code)(x), out)
    code.requires_grad_(True)
    conv(x, out_channels=5, kernel_size=1, code=code).sum().backward()
    assert code.grad.abs().min() > 0 and all(w.grad[:5, :3, 1, 1].abs().sum() > 0 for w in copies)


def test_sliced_conv_codes_must_match_its_copies():
    x = torch.randn(1, 4, 5, 5)
    with pytest.raises(ValueError, match=r"3 weight copies needs a code of shape \(3,\)"):
        SlicedConv2d(4, 6, 3, copies=3)(x)
    with pytest.raises(ValueError, match=r"needs a code of shape \(3,\)"):
        SlicedConv2d(4, 6, 3, copies=3)(x, code=torch.ones(2) / 2)
    with pytest.raises(ValueError, match="a code is given to a conv with one weight"):
        SlicedConv2d(4, 6, 3)(x, code=torch.ones(1))
    with pytest.raises(ValueError, match="copies must be at least 1"):
        SlicedConv2d(4, 6, 3, copies=0)


def test_sliced_conv_with_copies_converts_to_channels_last():
    conv = SlicedConv2d(4, 6, 3, copies=2).to(memory_format=torch.channels_last)
    assert conv.other_weights[0].is_contiguous(memory_format=torch.channels_last)


def _randomised_norm(features: int) -> SlicedBatchNorm2d:
    norm = SlicedBatchNorm2d(features, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        for tensor in (norm.weight, norm.bias, norm.running_mean):
            tensor.copy_(torch.randn(features))
        norm.running_var.copy_(torch.rand(features) + 0.5)
    return norm


def test_sliced_bn_eval_matches_export_and_plain_formula():
    torch.manual_seed(0)
    norm = _randomised_norm(8).eval()
    x = torch.randn(3, 5, 4, 4)
    out = norm(x)
    exported = norm.to_batchnorm2d(5).eval()
    torch.testing.assert_close(exported(x), out)
    expected = F.batch_norm(
        x, norm.running_mean[:5], norm.running_var[:5], norm.weight[:5], norm.bias[:5], False, 0.0, 1e-5
    )
    torch.testing.assert_close(out, expected)


def test_sliced_bn_training_updates_only_first_channels_like_plain_bn():
    torch.manual_seed(0)
    norm = _randomised_norm(8).train()
    plain = norm.to_batchnorm2d(5).train()
    before_tail = norm.running_mean[5:].clone()
    x = torch.randn(4, 5, 3, 3)
    torch.testing.assert_close(norm(x), plain(x))
    torch.testing.assert_close(norm.running_mean[:5], plain.running_mean)
    torch.testing.assert_close(norm.running_var[:5], plain.running_var)
    assert torch.equal(norm.running_mean[5:], before_tail)
    assert int(norm.num_batches_tracked) == 1


def test_sliced_bn_recalibration_gives_exact_batch_mean():
    torch.manual_seed(0)
    norm = _randomised_norm(6)
    batches = [torch.randn(4, 3, 2, 2) + 2.0 for _ in range(3)]
    assert recalibrate_bn(norm, None, batches) == 3
    expected_mean = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    torch.testing.assert_close(norm.running_mean[:3], expected_mean)
    assert not norm.training


def test_sliced_bn_rejects_too_many_channels():
    with pytest.raises(ValueError, match="channels 9"):
        SlicedBatchNorm2d(8)(torch.randn(2, 9, 2, 2))


def test_sliced_conv_bn_relu_export_has_fresh_shape_and_same_output():
    torch.manual_seed(0)
    block = SlicedConvBnRelu(6, 8, 3, bn_eps=1e-3, bn_momentum=0.01).eval()
    x = torch.randn(2, 4, 5, 5)
    exported = block.export(4, 5, 1).eval()
    torch.testing.assert_close(exported(x), block(x, out_channels=5, kernel_size=1))
    assert (block(x, 5, 1) >= 0).all()
    fresh = conv_bn_relu(4, 5, 1, bn_eps=1e-3, bn_momentum=0.01)
    assert [type(m) for m in fresh] == [type(m) for m in exported]
    assert str(fresh) == str(exported)


def test_sliced_conv_bn_relu_without_affine_bn_exports_a_non_affine_bn():
    torch.manual_seed(0)
    block = SlicedConvBnRelu(6, 8, 3, bn_affine=False)
    assert block.bn.weight is None and block.bn.bias is None
    block(torch.randn(4, 6, 5, 5), out_channels=5)  # statistics of the first 5 channels
    block.eval()
    x = torch.randn(2, 6, 5, 5)
    exported = block.export(6, 5).eval()
    torch.testing.assert_close(exported(x), block(x, out_channels=5))
    assert str(exported) == str(conv_bn_relu(6, 5, 3, bn_affine=False))


def test_per_width_bn_keeps_each_width_apart():
    torch.manual_seed(0)
    block = SlicedConvBnRelu(4, 8, 1, bn_widths=[3, 8, 5])
    assert list(block.bn.norms) == ["3", "5", "8"]
    block(torch.randn(4, 4, 2, 2) + 3.0, out_channels=5)
    assert int(block.bn.norms["5"].num_batches_tracked) == 1
    assert int(block.bn.norms["3"].num_batches_tracked) == 0  # another width's statistics are untouched
    assert torch.equal(block.bn.norms["8"].running_mean, torch.zeros(8))
    block.eval()
    x = torch.randn(2, 4, 2, 2)
    exported = block.export(4, 5).eval()
    torch.testing.assert_close(exported(x), block(x, out_channels=5))
    exported[1].running_mean.add_(1.0)  # a copy: the block's own statistics stay
    assert not torch.equal(exported[1].running_mean, block.bn.norms["5"].running_mean)
    with pytest.raises(ValueError, match="no batch norm for width 4"):
        block(x, out_channels=4)
