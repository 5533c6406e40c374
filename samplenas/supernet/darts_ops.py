"""The DARTS operation vocabulary (Liu et al. 2019, `quark0/darts` cnn/operations.py) plus sep_conv_7x7.

Every op of every op set of `samplenas.spaces.nasnet.OP_SETS` has a builder here.

`OPS[name](C, stride, affine)` builds one edge op mapping C channels to C channels, halving the
resolution when stride is 2. Definitions follow the DARTS evaluation network: separable convs are
two stacked ReLU-depthwise-pointwise-BN blocks (stride in the first), dilated conv is one
ReLU-depthwise(dilation 2)-pointwise-BN block, pools carry no BN, skip_connect is identity or a
FactorizedReduce at stride 2. 'none' has no module: the edge is simply absent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReLUConvBN(nn.Module):
    """ReLU -> conv -> BN, the DARTS preprocessing block."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _relu_dw_pw_bn(c_in: int, c_out: int, kernel: int, stride: int, dilation: int, affine: bool) -> list[nn.Module]:
    """ReLU -> depthwise conv ('same' padding) -> pointwise conv -> BN."""
    return [
        nn.ReLU(inplace=False),
        nn.Conv2d(
            c_in,
            c_in,
            kernel,
            stride=stride,
            padding=dilation * (kernel - 1) // 2,
            dilation=dilation,
            groups=c_in,
            bias=False,
        ),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out, affine=affine),
    ]


class SepConv(nn.Module):
    """Two stacked separable blocks; only the first strides (DARTS SepConv)."""

    def __init__(self, c: int, kernel: int, stride: int, affine: bool):
        super().__init__()
        self.op = nn.Sequential(
            *_relu_dw_pw_bn(c, c, kernel, stride, 1, affine), *_relu_dw_pw_bn(c, c, kernel, 1, 1, affine)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """One dilated separable block (DARTS DilConv)."""

    def __init__(self, c: int, kernel: int, stride: int, dilation: int, affine: bool):
        super().__init__()
        self.op = nn.Sequential(*_relu_dw_pw_bn(c, c, kernel, stride, dilation, affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halve resolution with two stride-2 1x1 convs, the second on the input shifted by one pixel.

    DARTS shifts with `x[:, :, 1:, 1:]`; padding the shifted map back to the input size (bottom and
    right) gives the same result for even sizes and matching output shapes for odd ones.
    """

    def __init__(self, c_in: int, c_out: int, affine: bool):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


OPS = {
    "avg_pool_3x3": lambda c, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda c, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": lambda c, stride, affine: nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, 3, stride, affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, 5, stride, affine),
    "sep_conv_7x7": lambda c, stride, affine: SepConv(c, 7, stride, affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, 3, stride, 2, affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, 5, stride, 2, affine),
}


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability `drop_prob`, rescaling the rest (DARTS/NASNet drop-path)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class AuxiliaryHead(nn.Module):
    """DARTS CIFAR auxiliary classifier, attached after the second reduction cell.

    DARTS pools its 8x8 input with a 5x5 window at stride 3 to 2x2; other sizes are pooled
    adaptively to 2x2 so the head works at any resolution with the same parameters.
    """

    def __init__(self, c: int, num_classes: int, feature_size: int):
        super().__init__()
        if feature_size == 8:
            pool: nn.Module = nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False)
        else:
            pool = nn.AdaptiveAvgPool2d(2)
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            pool,
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))
