"""Weight-sharing supernet for the modular autoencoder space.

The network of an architecture is one list of `Step`s (`autoencoder_steps`), run by one function
(`run_steps`); the supernet runs it over sliced shared weights, `extract` and `build` run it over
ordinary `nn.Conv2d` / `nn.ConvTranspose2d` / `nn.Dropout2d` modules. For a module of layers
l_1..l_n with channels c_0 = in_channels, c_i = filters of l_i (c_{i-1} for dropout):

    encoder  l_1 .. l_n                conv k_i: c_{i-1} -> c_i, zero "same" padding, ReLU; or dropout2d
             R x reduction             1x1 conv C -> 2C, ReLU, 2x2 max-pool stride 2
    decoder  R x dilation              2x2 transposed conv stride 2: 2C -> C, ReLU
             mirror(l_n) .. mirror(l_1) conv k_i: c_i -> c_{i-1}, ReLU; or dropout2d
             tanh                      the output, c_0 channels at the input's size

i.e. the decoder is the encoder reversed, each conv mapping back to the channels of the input its
mirror received. The decoder's last conv has no ReLU (its output goes to the final tanh, which is
applied after any trailing dropout so the output stays in [-1, 1]). There is no batch norm anywhere,
as in the paper and its code, so batch-norm recalibration is a no-op for this space.

Reading of the paper (shared/papers/evolving-autoencoders-distributed.txt): its experiments use a
single layer module, followed here by all R reduction modules; its dilation module "replaces the
max pooling layer with a 2D convolutional transpose layer", taken here as one transposed conv that
also halves the channels, mirroring the reduction exactly. ReLU placement follows the authors' code
(github.com/j-haj/brokered-deep-learning, SequentialAE).

Shared weights: one conv per encoder position at kernel 7 x 64 filters (centre-cropped to k_i,
first c_i filters, input channels sliced to what arrives), one per mirrored position likewise,
one 1x1 conv per reduction and one transposed conv per dilation, sliced to the channels in use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from samplenas.errors import UserError
from samplenas.spaces.autoencoder import DROPOUT_P, FILTERS, KERNELS, AutoencoderSpace, Layer
from samplenas.spaces.base import Arch
from samplenas.supernet.base import Supernet
from samplenas.supernet.ops import SlicedConv2d, SlicedConvTranspose2d

ENCODE, DECODE, DROPOUT, REDUCE, DILATE = "encode", "decode", "dropout", "reduce", "dilate"


@dataclass(frozen=True)
class Step:
    """One layer of a concrete autoencoder.

    `slot` picks the shared weight (the position for encode/decode, the module index for
    reduce/dilate); `position` is the searched position whose gate scales the output, if any.
    """

    kind: str
    slot: int
    in_channels: int
    out_channels: int
    kernel: int = 1
    relu: bool = False
    position: int | None = None


def autoencoder_steps(layers: Sequence[Layer], in_channels: int, num_reductions: int) -> tuple[Step, ...]:
    """The encoder then its mirror image, as described in the module docstring."""
    channels = [in_channels]  # channels[i] = c_i, the output of layer i
    encoder = []
    for i, layer in enumerate(layers):
        out = layer.filters if layer.is_conv else channels[-1]
        kind = ENCODE if layer.is_conv else DROPOUT
        encoder.append(Step(kind, i, channels[-1], out, layer.kernel or 1, layer.is_conv, i))
        channels.append(out)
    reduced = [channels[-1] * 2**j for j in range(num_reductions + 1)]
    reductions = [Step(REDUCE, j, reduced[j], reduced[j + 1], 1, True) for j in range(num_reductions)]
    dilations = [Step(DILATE, j, reduced[j + 1], reduced[j], 2, True) for j in reversed(range(num_reductions))]
    mirrors = [
        Step(DECODE if s.kind == ENCODE else DROPOUT, s.slot, s.out_channels, s.in_channels, s.kernel, s.relu, s.slot)
        for s in reversed(encoder)
    ]
    decoder = dilations + mirrors
    last_conv = max((i for i, s in enumerate(decoder) if s.kind != DROPOUT), default=None)
    if last_conv is not None:
        decoder[last_conv] = replace(decoder[last_conv], relu=False)
    return tuple(encoder + reductions + decoder)


def straight_through(gate: torch.Tensor) -> torch.Tensor:
    """1 in the forward pass; the gradient of a multiplication by `gate` in the backward pass."""
    return (gate - gate.detach()) + 1.0  # exactly 1: the difference is exactly 0


def run_steps(
    steps: Sequence[Step],
    ops: Sequence[Callable[[torch.Tensor], torch.Tensor]],
    x: torch.Tensor,
    gates: torch.Tensor | None = None,
) -> torch.Tensor:
    """The one forward definition: each step (with its gate), then tanh."""
    for step, op in zip(steps, ops):
        x = run_step(step, op, x)
        if gates is not None and step.position is not None:
            x = x * straight_through(gates[step.position])
    return torch.tanh(x)


def run_step(step: Step, op: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """One step: its op, then its activation and pooling."""
    x = op(x)
    if step.relu:
        x = F.relu(x)
    if step.kind == REDUCE:
        x = F.max_pool2d(x, 2, stride=2)
    return x


class ModularAutoencoder(nn.Module):
    """A standalone autoencoder: its steps and one ordinary module per step."""

    def __init__(self, steps: Sequence[Step], ops: Sequence[nn.Module]):
        super().__init__()
        self.steps = tuple(steps)
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_steps(self.steps, self.ops, x)


def fresh_op(step: Step) -> nn.Module:
    if step.kind == DROPOUT:
        return nn.Dropout2d(DROPOUT_P)
    if step.kind == DILATE:
        return nn.ConvTranspose2d(step.in_channels, step.out_channels, 2, stride=2)
    return nn.Conv2d(step.in_channels, step.out_channels, step.kernel, padding=step.kernel // 2)


class AutoencoderSupernet(Supernet):
    """All autoencoders of an `AutoencoderSpace` over one set of shared weights."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        max_layers: int | None = None,
        num_reductions: int | None = None,
        space: AutoencoderSpace | None = None,
    ):
        super().__init__()
        if space is None:
            settings = {"max_layers": max_layers, "num_reductions": num_reductions}
            space = AutoencoderSpace(**{k: v for k, v in settings.items() if v is not None})
        elif max_layers is not None or num_reductions is not None:
            raise UserError("give either a space or max_layers/num_reductions, not both")
        if in_channels < 1:
            raise UserError(f"in_channels must be >= 1, got {in_channels}")
        scale = 2**space.num_reductions
        if image_size < scale or image_size % scale:
            raise UserError(
                f"image_size {image_size} is not divisible by 2^{space.num_reductions} = {scale} "
                f"({space.num_reductions} reduction modules halve it each)"
            )
        self.space = space
        self.in_channels = in_channels
        self.input_shape = (in_channels, image_size, image_size)
        width = max(in_channels, max(FILTERS))  # most channels a layer can receive or emit
        kernel, filters, positions = max(KERNELS), max(FILTERS), range(space.max_layers)
        self.encoder = nn.ModuleList(
            SlicedConv2d(in_channels if i == 0 else width, filters, kernel, bias=True) for i in positions
        )
        self.decoder = nn.ModuleList(
            SlicedConv2d(width, in_channels if i == 0 else width, kernel, bias=True) for i in positions
        )
        self.reductions = nn.ModuleList(
            SlicedConv2d(width * 2**j, width * 2 ** (j + 1), 1, bias=True) for j in range(space.num_reductions)
        )
        self.dilations = nn.ModuleList(
            SlicedConvTranspose2d(width * 2 ** (j + 1), width * 2**j, 2, stride=2)
            for j in range(space.num_reductions)
        )

    def steps(self, arch: Arch) -> tuple[Step, ...]:
        """The concrete network of `arch` (validates it first)."""
        return autoencoder_steps(self.space.layers(arch), self.in_channels, self.space.num_reductions)

    def forward(self, x: torch.Tensor, arch: Arch, gates: torch.Tensor | None = None) -> torch.Tensor:
        steps = self.steps(arch)
        self._check_input(x, gates)
        return run_steps(steps, [self._shared_op(step) for step in steps], x, gates)

    def extract(self, arch: Arch) -> ModularAutoencoder:
        steps = self.steps(arch)
        return ModularAutoencoder(steps, [self._exported_op(step) for step in steps])

    def build(self, arch: Arch) -> ModularAutoencoder:
        steps = self.steps(arch)
        return ModularAutoencoder(steps, [fresh_op(step) for step in steps])

    # --- per-step operations ---------------------------------------------------------------
    def _shared(self, step: Step) -> nn.Module:
        table = {ENCODE: self.encoder, DECODE: self.decoder, REDUCE: self.reductions, DILATE: self.dilations}
        return table[step.kind][step.slot]

    def _shared_op(self, step: Step) -> Callable[[torch.Tensor], torch.Tensor]:
        if step.kind == DROPOUT:
            return partial(F.dropout2d, p=DROPOUT_P, training=self.training)
        if step.kind == DILATE:
            return partial(self._shared(step), out_channels=step.out_channels)
        return partial(self._shared(step), out_channels=step.out_channels, kernel_size=step.kernel)

    def _exported_op(self, step: Step) -> nn.Module:
        if step.kind == DROPOUT:
            return nn.Dropout2d(DROPOUT_P)
        if step.kind == DILATE:
            return self._shared(step).to_conv_transpose2d(step.in_channels, step.out_channels)
        return self._shared(step).to_conv2d(step.in_channels, step.out_channels, step.kernel)

    def _check_input(self, x: torch.Tensor, gates: torch.Tensor | None) -> None:
        scale = 2**self.space.num_reductions
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] % scale or x.shape[3] % scale:
            raise ValueError(
                f"input of shape {tuple(x.shape)}: expected (N, {self.in_channels}, H, W) "
                f"with H and W divisible by {scale}"
            )
        if gates is not None and tuple(gates.shape) != (len(self.space.dims),):
            raise ValueError(f"gates of shape {tuple(gates.shape)}: expected ({len(self.space.dims)},)")
