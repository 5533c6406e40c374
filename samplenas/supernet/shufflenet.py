"""The SPOS ShuffleNetV2 supernet (Guo et al. 2019) and its VAENAS variant (appendix A.4).

One network definition, `ShuffleNetChain`, serves all three uses: each of its 20 layers holds
candidate units keyed by choice. The supernet's chain holds all four candidates per layer (separate
weights per choice, as SPOS), and runs only the chosen one; `extract` and `build` make a chain
holding just the chosen unit per layer, so its state-dict keys are a subset of the supernet's and
extraction is a filtered `load_state_dict`.

Layout at `image_size >= 128` (SPOS, megvii-model/ShuffleNet-Series `OneShot/network.py`):
3x3 stride-2 stem (16 channels, BN, ReLU), no max-pool, four stages of 4/4/8/4 units whose first
unit has stride 2 (64/160/320/640 channels at width 1.0), 1x1 conv to 1024, global average pool,
dropout 0.1, bias-free linear classifier. Total stride 32: 224 -> 7x7.
Layout at `image_size < 128` (CIFAR-size): the stem has stride 1 and the first stage's first unit
has stride 1 (it still has its projection branch, to change width); later stages downsample as
above. Total stride 8: 32 -> 32 (stem, stage 0), 16, 8, 4.

Units (ShuffleNetV2): a stride-1 unit splits its channels in halves, runs the main branch on
one half, concatenates and shuffles channels (2 groups). The first unit of a stage runs a
projection branch (depthwise kxk conv with the unit's stride, then pointwise) beside the main
branch on the whole input. shuffle_kxk main branch: pw -> dw kxk -> pw, mid channels = out/2.
xception_3x3 main branch: three (dw 3x3 -> pw) blocks. Every conv is followed by BN; ReLU after
the pointwise convs. `vaenas_variant=True` (VAENAS A.4) uses Swish instead of ReLU in 5x5, 7x7
and Xception units, and adds squeeze-and-excitation after the main branch of 7x7 and Xception.

Batch norm: every candidate unit has its own BN layers (separate per choice). The official SPOS
supernet uses BN without affine parameters (`affine=False`, SinglePathOneShot issue #3, "we just
follow the setting of DARTS") and affine BN when retraining; here `bn_affine` (default True, the
retraining setting) applies to the supernet, `extract` and `build` alike. Before evaluating a
subnet, re-estimate its statistics with `samplenas.supernet.bn.recalibrate_bn`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from samplenas.errors import UserError
from samplenas.spaces.base import Arch, InvalidArchitecture
from samplenas.spaces.shufflenet import CHOICES, STAGE_DEPTHS, ShuffleNetSpace, stage_of_layers
from samplenas.supernet.base import Supernet

SPOS_STAGE_CHANNELS = (64, 160, 320, 640)
KERNEL_OF_CHOICE = (3, 5, 7, 3)
XCEPTION = CHOICES.index("xception_3x3")
SWISH_CHOICES = frozenset({1, 2, XCEPTION})  # VAENAS: 5x5, 7x7 and Xception use Swish
SE_CHOICES = frozenset({2, XCEPTION})  # VAENAS: 7x7 and Xception get squeeze-and-excitation
SMALL_IMAGE_LIMIT = 128  # images smaller than this use the CIFAR-size layout


@dataclass(frozen=True)
class ShuffleNetConfig:
    """Settings of the network; `stage_channels` overrides `width_mult` (tiny test networks)."""

    num_classes: int = 1000
    in_channels: int = 3
    image_size: int = 224
    width_mult: float = 1.0
    stage_channels: tuple[int, ...] | None = None
    stem_channels: int = 16
    last_channels: int = 1024
    vaenas_variant: bool = False
    bn_affine: bool = True
    dropout: float = 0.1

    @property
    def small_images(self) -> bool:
        return self.image_size < SMALL_IMAGE_LIMIT

    @property
    def stem_stride(self) -> int:
        return 1 if self.small_images else 2

    @property
    def stage_strides(self) -> tuple[int, ...]:
        return (1, 2, 2, 2) if self.small_images else (2, 2, 2, 2)

    def widths(self) -> tuple[int, ...]:
        """Output channels of each stage: SPOS widths times `width_mult`, rounded to a multiple of 4
        (stride-1 units split channels in halves, and each half must split again after shuffling)."""
        if self.stage_channels is not None:
            return tuple(int(c) for c in self.stage_channels)
        return tuple(max(4, int(round(c * self.width_mult / 4)) * 4) for c in SPOS_STAGE_CHANNELS)

    def check(self) -> None:
        """Raise UserError naming the first setting that cannot make a network."""
        widths = self.widths()
        if len(widths) != len(STAGE_DEPTHS):
            raise UserError(f"shufflenet: stage_channels needs {len(STAGE_DEPTHS)} widths, got {len(widths)}")
        if any(w % 2 for w in widths):
            raise UserError(f"shufflenet: stage widths must be even (units split channels in halves), got {widths}")
        previous = self.stem_channels
        for stage, width in enumerate(widths):
            if width <= previous:
                raise UserError(
                    f"shufflenet: stage {stage} width {width} must exceed its input width {previous} "
                    "(the projection branch keeps the input width; the main branch adds the rest)"
                )
            previous = width
        for name in ("num_classes", "in_channels", "stem_channels", "last_channels"):
            if getattr(self, name) < 1:
                raise UserError(f"shufflenet: {name} must be positive, got {getattr(self, name)}")
        total_stride = self.stem_stride * math.prod(self.stage_strides)
        if self.image_size < 1 or self.image_size % total_stride:
            raise UserError(
                f"shufflenet: image_size {self.image_size} must be a positive multiple of {total_stride} "
                f"(the network's total stride at this size)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"shufflenet: dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class LayerShape:
    in_channels: int
    out_channels: int
    stride: int
    project: bool  # first unit of a stage: projection branch beside the main branch


def layer_shapes(config: ShuffleNetConfig) -> list[LayerShape]:
    widths, shapes, channels = config.widths(), [], config.stem_channels
    for stage, layer in stage_of_layers():
        if layer == 0:
            shapes.append(LayerShape(channels, widths[stage], config.stage_strides[stage], True))
        else:
            shapes.append(LayerShape(widths[stage], widths[stage], 1, False))
        channels = widths[stage]
    return shapes


def conv_bn(in_channels: int, out_channels: int, kernel: int, *, stride: int = 1, depthwise: bool = False,
            activation: type[nn.Module] | None = None, affine: bool = True) -> list[nn.Module]:
    """Bias-free conv ("same" padding) + BN (+ activation), as a list to splice into a Sequential."""
    groups = in_channels if depthwise else 1
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels, affine=affine),
    ]
    return layers + ([activation()] if activation is not None else [])


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    batch, channels, height, width = x.shape
    return x.view(batch, groups, channels // groups, height, width).transpose(1, 2).reshape(x.shape)


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al. 2018): global pool, bottleneck of 1/4 the channels, sigmoid gate."""

    def __init__(self, channels: int, activation: type[nn.Module]):
        super().__init__()
        hidden = max(1, channels // 4)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), activation(), nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class ChoiceUnit(nn.Module):
    """One ShuffleNetV2 unit running one choice (shuffle_3x3/5x5/7x7 or xception_3x3)."""

    def __init__(self, choice: int, shape: LayerShape, vaenas_variant: bool = False, bn_affine: bool = True):
        super().__init__()
        kernel = KERNEL_OF_CHOICE[choice]
        act = nn.SiLU if vaenas_variant and choice in SWISH_CHOICES else nn.ReLU
        main_in = shape.in_channels if shape.project else shape.in_channels // 2
        main_out = shape.out_channels - main_in
        mid = shape.out_channels // 2
        bn = {"affine": bn_affine}
        if choice == XCEPTION:
            main = (
                conv_bn(main_in, main_in, 3, stride=shape.stride, depthwise=True, **bn)
                + conv_bn(main_in, mid, 1, activation=act, **bn)
                + conv_bn(mid, mid, 3, depthwise=True, **bn)
                + conv_bn(mid, mid, 1, activation=act, **bn)
                + conv_bn(mid, mid, 3, depthwise=True, **bn)
                + conv_bn(mid, main_out, 1, activation=act, **bn)
            )
        else:
            main = (
                conv_bn(main_in, mid, 1, activation=act, **bn)
                + conv_bn(mid, mid, kernel, stride=shape.stride, depthwise=True, **bn)
                + conv_bn(mid, main_out, 1, activation=act, **bn)
            )
        if vaenas_variant and choice in SE_CHOICES:
            main.append(SqueezeExcite(main_out, act))
        self.main = nn.Sequential(*main)
        self.proj = None
        if shape.project:
            self.proj = nn.Sequential(
                *conv_bn(main_in, main_in, kernel, stride=shape.stride, depthwise=True, **bn),
                *conv_bn(main_in, main_in, 1, activation=act, **bn),
            )

    def forward(self, x: torch.Tensor, gate: torch.Tensor | None = None) -> torch.Tensor:
        """`gate` multiplies what this choice computes: the main branch of a stride-1 unit (the
        passed-through half is not the choice's), both branches of a projecting unit."""
        if self.proj is None:
            kept, processed = x.chunk(2, dim=1)
            processed = self.main(processed)
            out = torch.cat((kept, processed if gate is None else processed * gate), dim=1)
        else:
            out = torch.cat((self.proj(x), self.main(x)), dim=1)
            out = out if gate is None else out * gate
        return channel_shuffle(out)


def straight_through_one(gate: torch.Tensor) -> torch.Tensor:
    """Exactly 1 in the forward pass, gradient 1 with respect to `gate` in the backward pass."""
    return (gate - gate.detach()) + 1.0


class ShuffleNetChain(nn.Module):
    """Stem, 20 choice layers, head. `candidates[i]` lists the choices layer i holds: all four in
    a supernet, exactly one in a standalone subnet (which then runs without an `arch`)."""

    def __init__(self, config: ShuffleNetConfig, candidates: Sequence[Sequence[int]]):
        super().__init__()
        config.check()
        self.config = config
        affine = config.bn_affine
        self.stem = nn.Sequential(
            *conv_bn(config.in_channels, config.stem_channels, 3, stride=config.stem_stride,
                     activation=nn.ReLU, affine=affine)
        )
        self.layers = nn.ModuleList(
            nn.ModuleDict({str(c): ChoiceUnit(c, shape, config.vaenas_variant, affine) for c in choices})
            for shape, choices in zip(layer_shapes(config), candidates, strict=True)
        )
        self.head = nn.Sequential(
            *conv_bn(config.widths()[-1], config.last_channels, 1, activation=nn.ReLU, affine=affine),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(config.dropout),
            nn.Linear(config.last_channels, config.num_classes, bias=False),
        )
        single = all(len(choices) == 1 for choices in candidates)
        self.arch: Arch | None = tuple(int(choices[0]) for choices in candidates) if single else None
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor, arch: Arch | None = None, gates: torch.Tensor | None = None) -> torch.Tensor:
        arch = self.arch if arch is None else arch
        if arch is None:
            raise InvalidArchitecture("shufflenet: a supernet chain needs an architecture to run")
        if len(arch) != len(self.layers):
            raise InvalidArchitecture(f"shufflenet: architecture has {len(arch)} layers, expected {len(self.layers)}")
        if gates is not None and len(gates) != len(self.layers):
            raise ValueError(f"shufflenet: gates has {len(gates)} entries, expected {len(self.layers)}")
        missing = [i for i, (layer, c) in enumerate(zip(self.layers, arch)) if str(c) not in layer]
        if missing:
            layer = missing[0]
            raise InvalidArchitecture(f"shufflenet: this network has no choice {arch[layer]} at layer {layer}")
        x = self.stem(x)
        for i, (layer, choice) in enumerate(zip(self.layers, arch)):
            x = layer[str(choice)](x, None if gates is None else straight_through_one(gates[i]))
        return self.head(x)


class ShuffleNetSupernet(Supernet):
    """SPOS supernet over `ShuffleNetSpace`: four separately weighted candidate units per layer.

    `forward(x, arch, gates)`: only the chosen unit of each layer runs. `gates` (one per layer)
    act straight-through: the forward value is 1 whatever the gate holds, and each gate receives
    the gradient of multiplying its layer's choice output by it (for Gumbel-style samplers).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        width_mult: float = 1.0,
        stage_channels: Sequence[int] | None = None,
        stem_channels: int = 16,
        last_channels: int = 1024,
        vaenas_variant: bool = False,
        bn_affine: bool = True,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.space = ShuffleNetSpace()
        self.config = ShuffleNetConfig(
            num_classes=num_classes, in_channels=in_channels, image_size=image_size, width_mult=width_mult,
            stage_channels=None if stage_channels is None else tuple(stage_channels),
            stem_channels=stem_channels, last_channels=last_channels, vaenas_variant=vaenas_variant,
            bn_affine=bn_affine, dropout=dropout,
        )
        self.input_shape = (in_channels, image_size, image_size)
        self.net = ShuffleNetChain(self.config, [range(len(CHOICES))] * len(self.space.dims))

    def forward(self, x: torch.Tensor, arch: Arch, gates: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x, self.space.validate(arch), gates)

    def build(self, arch: Arch) -> ShuffleNetChain:
        return ShuffleNetChain(self.config, [[c] for c in self.space.validate(arch)])

    def extract(self, arch: Arch) -> ShuffleNetChain:
        reference = next(self.parameters())
        subnet = self.build(arch).to(device=reference.device, dtype=reference.dtype)
        shared = self.net.state_dict()
        subnet.load_state_dict({name: shared[name] for name in subnet.state_dict()})
        return subnet.train(self.training)
