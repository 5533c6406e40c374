"""Shared-weight operations: one tensor at the largest shape, each subnet runs a slice of it.

A sliced conv keeps one weight at (max_out, max_in, max_k, max_k) and runs the first `out`
filters over the first `in` input channels (taken from the input), with the kernel centre-cropped
to `k` (the OFA / SPOS convention: small kernels share the centre of the large one). A sliced batch
norm keeps affine parameters and running statistics for the largest width and uses the first C; a
per-width batch norm instead keeps a private BN for each width it may meet (switchable BN, as
slimmable networks use), so no statistics or affine parameters are shared between widths.
All export a plain `nn.Conv2d` / `nn.BatchNorm2d` holding copies of the slice, so an extracted
subnet is an ordinary PyTorch module with no trace of the supernet. A sliced conv may keep K copies of
its weight (K-shot sharing, `samplenas.supernet.kshot`): each call then names the convex combination it
runs, and exports that combination.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def _check_width(name: str, value: int, maximum: int) -> int:
    if not 1 <= value <= maximum:
        raise ValueError(f"{name} {value} outside 1..{maximum}")
    return int(value)


def _load_slice(layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """Copy a weight slice (and its bias slice) into a freshly made standalone layer."""
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


class SlicedConv2d(nn.Module):
    """A square-kernel 2-D convolution whose channels and kernel are sliced per call.

    Padding is "same" for every odd kernel (`dilation * (k - 1) // 2`), so sub-kernels keep the
    spatial size of the full kernel. With `copies` K > 1 it keeps K independently initialised weights
    (`weight` and `other_weights`) and every call passes a `code` of K mixing weights.
    """

    def __init__(
        self,
        max_in_channels: int,
        max_out_channels: int,
        max_kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        bias: bool = False,
        copies: int = 1,
    ):
        super().__init__()
        if max_kernel_size % 2 != 1:
            raise ValueError(f"kernel size must be odd, got {max_kernel_size}")
        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        self.max_in_channels = max_in_channels
        self.max_out_channels = max_out_channels
        self.max_kernel_size = max_kernel_size
        self.stride = stride
        self.dilation = dilation
        # nn.Conv2d's own initialisation, so a full-size slice starts like a fresh conv
        template = nn.Conv2d(max_in_channels, max_out_channels, max_kernel_size, bias=bias)
        self.weight = nn.Parameter(template.weight.detach().clone())
        self.bias = nn.Parameter(template.bias.detach().clone()) if bias else None
        self.copies = copies
        if copies > 1:  # each copy initialised as a fresh conv: identical copies would never diverge
            # 4-D tensors each (not one 5-D stack), so the module still converts to channels_last
            self.other_weights = nn.ParameterList(
                nn.Conv2d(max_in_channels, max_out_channels, max_kernel_size, bias=False).weight.detach()
                for _ in range(copies - 1)
            )

    def _mixed(self, code: torch.Tensor | None, out_channels: int, in_channels: int, start: int, end: int):
        if self.copies == 1:
            if code is not None:
                raise ValueError("a code is given to a conv with one weight")
            return self.weight[:out_channels, :in_channels, start:end, start:end]
        if code is None or code.shape != (self.copies,):
            raise ValueError(f"a conv with {self.copies} weight copies needs a code of shape ({self.copies},)")
        weights = (self.weight, *self.other_weights)
        return sum(c * w[:out_channels, :in_channels, start:end, start:end] for c, w in zip(code, weights))

    def sliced_weight(
        self, in_channels: int, out_channels: int, kernel_size: int, code: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The first `out_channels` x `in_channels` filters, centre-cropped to `kernel_size` (the copies
        mixed by `code` when there are several)."""
        _check_width("in_channels", in_channels, self.max_in_channels)
        _check_width("out_channels", out_channels, self.max_out_channels)
        _check_width("kernel_size", kernel_size, self.max_kernel_size)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel size must be odd, got {kernel_size}")
        start = (self.max_kernel_size - kernel_size) // 2
        return self._mixed(code, out_channels, in_channels, start, start + kernel_size)

    def _resolve(self, out_channels: int | None, kernel_size: int | None) -> tuple[int, int]:
        return (
            self.max_out_channels if out_channels is None else out_channels,
            self.max_kernel_size if kernel_size is None else kernel_size,
        )

    def forward(
        self, x: torch.Tensor, out_channels: int | None = None, kernel_size: int | None = None,
        code: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out_channels, kernel_size = self._resolve(out_channels, kernel_size)
        weight = self.sliced_weight(x.shape[1], out_channels, kernel_size, code)
        bias = None if self.bias is None else self.bias[:out_channels]
        padding = self.dilation * (kernel_size - 1) // 2
        return F.conv2d(x, weight, bias, self.stride, padding, self.dilation)

    def to_conv2d(
        self, in_channels: int, out_channels: int | None = None, kernel_size: int | None = None,
        code: torch.Tensor | None = None,
    ) -> nn.Conv2d:
        """A standalone `nn.Conv2d` holding a copy of the slice `forward` would use."""
        out_channels, kernel_size = self._resolve(out_channels, kernel_size)
        weight = self.sliced_weight(in_channels, out_channels, kernel_size, code)
        conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=self.stride,
            padding=self.dilation * (kernel_size - 1) // 2,
            dilation=self.dilation,
            bias=self.bias is not None,
        ).to(device=weight.device, dtype=weight.dtype)
        return _load_slice(conv, weight, None if self.bias is None else self.bias[:out_channels])


class SlicedBatchNorm2d(nn.BatchNorm2d):
    """Batch norm over the first C channels of its largest-width parameters and statistics.

    A subclass of `nn.BatchNorm2d` so `recalibrate_bn` (and anything else that looks for batch
    norms) treats it like one: it resets all statistics, and each call updates the first C.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = _check_width("channels", x.shape[1], self.num_features)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as nn.BatchNorm2d does
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or not self.track_running_stats
        stats = self.running_mean is not None
        return F.batch_norm(
            x,
            self.running_mean[:channels] if stats else None,
            self.running_var[:channels] if stats else None,
            self.weight[:channels] if self.affine else None,
            self.bias[:channels] if self.affine else None,
            use_batch_stats,
            momentum,
            self.eps,
        )

    def to_batchnorm2d(self, channels: int) -> nn.BatchNorm2d:
        """A standalone `nn.BatchNorm2d` with copies of the first `channels` parameters and stats."""
        channels = _check_width("channels", channels, self.num_features)
        norm = nn.BatchNorm2d(
            channels,
            eps=self.eps,
            momentum=self.momentum,
            affine=self.affine,
            track_running_stats=self.track_running_stats,
        )
        reference = self.weight if self.affine else self.running_mean
        if reference is not None:
            norm = norm.to(device=reference.device, dtype=reference.dtype)
        with torch.no_grad():
            if self.affine:
                norm.weight.copy_(self.weight[:channels])
                norm.bias.copy_(self.bias[:channels])
            if self.track_running_stats:
                norm.running_mean.copy_(self.running_mean[:channels])
                norm.running_var.copy_(self.running_var[:channels])
                norm.num_batches_tracked.copy_(self.num_batches_tracked)
        return norm


class PerWidthBatchNorm2d(nn.Module):
    """One private `nn.BatchNorm2d` per width in `widths`; a call uses the one of its input's width.

    Sliced BN mixes the statistics (and trains the affine parameters) of every width through it;
    here each width keeps its own, so a sampled subnet meets only what its widths trained.
    """

    def __init__(self, widths, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        self.norms = nn.ModuleDict(
            {str(w): nn.BatchNorm2d(w, eps=eps, momentum=momentum, affine=affine) for w in sorted(set(widths))}
        )

    def norm(self, channels: int) -> nn.BatchNorm2d:
        if str(channels) not in self.norms:
            raise ValueError(f"no batch norm for width {channels} (widths {', '.join(self.norms)})")
        return self.norms[str(channels)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.shape[1])(x)

    def to_batchnorm2d(self, channels: int) -> nn.BatchNorm2d:
        """A standalone copy of the width's batch norm."""
        return copy.deepcopy(self.norm(channels))


def conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
    bn_affine: bool = True,
) -> nn.Sequential:
    """A fresh Conv(no bias)-BN-ReLU with "same" padding; the shape `SlicedConvBnRelu` exports."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False),
        nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum, affine=bn_affine),
        nn.ReLU(),
    )


class SlicedConvBnRelu(nn.Module):
    """Conv(no bias)-BN-ReLU over shared weights, sliced per call like its two parts.

    The BN is sliced, or per width when `bn_widths` (every width the block may run at) is given;
    `bn_affine=False` drops its learnable scale and shift.
    """

    def __init__(
        self,
        max_in_channels: int,
        max_out_channels: int,
        max_kernel_size: int,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        bn_affine: bool = True,
        bn_widths=None,
        copies: int = 1,
    ):
        super().__init__()
        self.conv = SlicedConv2d(max_in_channels, max_out_channels, max_kernel_size, copies=copies)
        if bn_widths is None:
            self.bn = SlicedBatchNorm2d(max_out_channels, eps=bn_eps, momentum=bn_momentum, affine=bn_affine)
        else:
            self.bn = PerWidthBatchNorm2d(bn_widths, eps=bn_eps, momentum=bn_momentum, affine=bn_affine)

    def forward(
        self, x: torch.Tensor, out_channels: int | None = None, kernel_size: int | None = None,
        code: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x, out_channels, kernel_size, code)))

    def export(
        self, in_channels: int, out_channels: int | None = None, kernel_size: int | None = None,
        code: torch.Tensor | None = None,
    ) -> nn.Sequential:
        """A standalone Conv-BN-ReLU (as `conv_bn_relu` builds) holding copies of the slice."""
        conv = self.conv.to_conv2d(in_channels, out_channels, kernel_size, code)
        return nn.Sequential(conv, self.bn.to_batchnorm2d(conv.out_channels), nn.ReLU())


class SlicedConvTranspose2d(nn.Module):
    """A transposed convolution (fixed kernel) whose input and output channels are sliced per call.

    The weight is kept at (max_in, max_out, k, k), PyTorch's transposed layout, and a call uses the
    first `in` x `out` block, `in` taken from the input; used by decoders that upsample.
    """

    def __init__(
        self, max_in_channels: int, max_out_channels: int, kernel_size: int, stride: int = 1, bias: bool = True
    ):
        super().__init__()
        self.max_in_channels = max_in_channels
        self.max_out_channels = max_out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        template = nn.ConvTranspose2d(max_in_channels, max_out_channels, kernel_size, stride=stride, bias=bias)
        self.weight = nn.Parameter(template.weight.detach().clone())
        self.bias = nn.Parameter(template.bias.detach().clone()) if bias else None

    def sliced_weight(self, in_channels: int, out_channels: int) -> torch.Tensor:
        _check_width("in_channels", in_channels, self.max_in_channels)
        _check_width("out_channels", out_channels, self.max_out_channels)
        return self.weight[:in_channels, :out_channels]

    def forward(self, x: torch.Tensor, out_channels: int | None = None) -> torch.Tensor:
        out_channels = self.max_out_channels if out_channels is None else out_channels
        bias = None if self.bias is None else self.bias[:out_channels]
        return F.conv_transpose2d(x, self.sliced_weight(x.shape[1], out_channels), bias, self.stride)

    def to_conv_transpose2d(self, in_channels: int, out_channels: int | None = None) -> nn.ConvTranspose2d:
        """A standalone `nn.ConvTranspose2d` holding a copy of the slice `forward` would use."""
        out_channels = self.max_out_channels if out_channels is None else out_channels
        weight = self.sliced_weight(in_channels, out_channels)
        conv = nn.ConvTranspose2d(
            in_channels, out_channels, self.kernel_size, stride=self.stride, bias=self.bias is not None
        ).to(device=weight.device, dtype=weight.dtype)
        return _load_slice(conv, weight, None if self.bias is None else self.bias[:out_channels])
