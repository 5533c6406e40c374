"""Deep-n-Cheap networks: the CNN/MLP configurations of the paper's three stages and their PyTorch build.

A DnC network is a variable-length list of layers whose widths depend on each other (c_{i+1} in
c_i..min(2 c_i, 512)), so it does not fit the fixed-position `SearchSpace` contract that the samplers
consume; it sits beside it. `DncNet` is the structured form, `DncNetworks` the small adapter that gives
`samplenas retrain` what it needs from a supernet (`space.parse/to_str/validate`, `build`, `cost`), so
the winner of a DnC search retrains like any other architecture (`SUPERNETS["dnc"]`).

The integer encoding used by checkpoints is `[kind, L, widths..., per-layer fields...]` (kind 0 = MLP,
1 = CNN; dropout in per-mille); the readable form is compact JSON of `DncNet`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn

from samplenas.errors import UserError
from samplenas.spaces.base import InvalidArchitecture

KINDS = ("mlp", "cnn")
DOWN_NONE, DOWN_POOL, DOWN_STRIDE = 0, 1, 2


@dataclass(frozen=True)
class DncNet:
    """One network. Per-layer tuples have one entry per layer (MLP: per hidden layer).

    down: 0 none, 1 max-pool after the conv, 2 the conv has stride 2. dropout: drop probability after the
    layer (0 = no dropout layer). shortcut: 1 where a shortcut starts at the layer's input and skips it and
    the next layer.
    """

    kind: str
    widths: tuple[int, ...]
    dropout: tuple[float, ...]
    down: tuple[int, ...] = ()
    bn: tuple[int, ...] = ()
    shortcut: tuple[int, ...] = ()

    @property
    def layers(self) -> int:
        return len(self.widths)

    def to_dict(self) -> dict:
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if self.kind == "mlp":
            for name in ("down", "bn", "shortcut"):
                out.pop(name)
        return out

    @staticmethod
    def from_dict(data: dict) -> DncNet:
        try:
            net = DncNet(kind=data["kind"], widths=tuple(int(v) for v in data["widths"]),
                         dropout=tuple(float(v) for v in data["dropout"]),
                         down=tuple(int(v) for v in data.get("down", ())), bn=tuple(int(v) for v in data.get("bn", ())),
                         shortcut=tuple(int(v) for v in data.get("shortcut", ())))
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidArchitecture(f"not a DnC network description ({err})") from None
        return check_net(net)

    def key(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Hyper:
    """Training hyper-parameters of one evaluation (stage 3 searches these; stages 1-2 use presets)."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256

    def to_dict(self) -> dict:
        return asdict(self)


def check_net(net: DncNet) -> DncNet:
    """Return `net` or raise InvalidArchitecture saying what is inconsistent."""
    if net.kind not in KINDS:
        raise InvalidArchitecture(f"unknown DnC network kind {net.kind!r}; valid: {', '.join(KINDS)}")
    n = net.layers
    per_layer = {"dropout": net.dropout} if net.kind == "mlp" else \
        {"dropout": net.dropout, "down": net.down, "bn": net.bn, "shortcut": net.shortcut}
    for name, values in per_layer.items():
        if len(values) != n:
            raise InvalidArchitecture(f"DnC {name} has {len(values)} entries for {n} layers")
    if any(w < 1 for w in net.widths):
        raise InvalidArchitecture("DnC layer widths must be positive")
    if any(not 0.0 <= p < 1.0 for p in net.dropout):
        raise InvalidArchitecture("DnC dropout probabilities must be in [0, 1)")
    if net.kind == "cnn":
        if n == 0:
            raise InvalidArchitecture("a DnC CNN needs at least one conv layer")
        if any(d not in (DOWN_NONE, DOWN_POOL, DOWN_STRIDE) for d in net.down):
            raise InvalidArchitecture("DnC down entries must be 0 (none), 1 (max-pool) or 2 (stride)")
        if any(v not in (0, 1) for v in net.bn + net.shortcut):
            raise InvalidArchitecture("DnC bn/shortcut entries must be 0 or 1")
        if any(net.shortcut[n - 2:]) if n >= 2 else any(net.shortcut):
            raise InvalidArchitecture("a DnC shortcut must start at least two layers before the end")
    return net


# --- integer codec (checkpoints) and the retrain adapter ---------------------------------------------
def encode(net: DncNet) -> tuple[int, ...]:
    head = [KINDS.index(net.kind), net.layers, *net.widths]
    drops = [int(round(p * 1000)) for p in net.dropout]
    if net.kind == "mlp":
        return tuple(head + drops)
    return tuple(head + list(net.down) + list(net.bn) + drops + list(net.shortcut))


def decode(ints: Sequence[int]) -> DncNet:
    values = [int(v) for v in ints]
    if len(values) < 2 or values[0] not in (0, 1):
        raise InvalidArchitecture("a DnC encoding starts with kind (0 mlp, 1 cnn) and the layer count")
    kind, n = KINDS[values[0]], values[1]
    fields = 2 if kind == "mlp" else 5
    if n < 0 or len(values) != 2 + fields * n:
        raise InvalidArchitecture(f"a DnC {kind} encoding of {n} layers has {2 + fields * n} integers")
    parts = [tuple(values[2 + i * n: 2 + (i + 1) * n]) for i in range(fields)]
    if kind == "mlp":
        return check_net(DncNet(kind, parts[0], tuple(v / 1000 for v in parts[1])))
    return check_net(DncNet(kind, parts[0], tuple(v / 1000 for v in parts[3]), parts[1], parts[2], parts[4]))


class DncCodec:
    """The `space` face `samplenas retrain` uses: readable JSON text or comma-separated ints <-> ints."""

    name = "dnc"

    def parse(self, text: str) -> tuple[int, ...]:
        text = text.strip()
        if text.startswith("{"):
            try:
                return encode(DncNet.from_dict(json.loads(text)))
            except json.JSONDecodeError as err:
                raise InvalidArchitecture(f"DnC network text is not valid JSON ({err})") from None
        try:
            return self.validate([int(v) for v in text.split(",")])
        except ValueError:
            raise InvalidArchitecture("a DnC network is JSON text or comma-separated integers") from None

    def validate(self, arch: Sequence[int]) -> tuple[int, ...]:
        return encode(decode(arch))

    def to_str(self, arch: Sequence[int]) -> str:
        return decode(arch).key()


class DncNetworks:
    """`SUPERNETS["dnc"](num_classes=, in_channels=, image_size=)`: builds fixed DnC networks (no sharing)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28):
        self.num_classes, self.in_channels, self.image_size = int(num_classes), int(in_channels), int(image_size)
        self.space = DncCodec()

    def build(self, arch: Sequence[int]) -> nn.Module:
        return build_net(decode(arch), self.in_channels, self.image_size, self.num_classes)

    def cost(self, arch: Sequence[int]) -> dict:
        """As `Supernet.cost`: the caller's random stream is left alone."""
        with torch.random.fork_rng(devices=[]):
            net = self.build(arch)
        return {"params": count_params(net), "macs": count_macs(net, (self.in_channels, self.image_size,
                                                                       self.image_size))}


# --- building -------------------------------------------------------------------------------------
class MLP(nn.Sequential):
    """Flatten, then [Linear, ReLU, Dropout?] per hidden layer, then the classifier."""

    def __init__(self, net: DncNet, in_features: int, num_classes: int):
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for nodes, p in zip(net.widths, net.dropout):
            layers += [nn.Linear(width, nodes), nn.ReLU(inplace=True)]
            if p > 0:
                layers.append(nn.Dropout(p))
            width = nodes
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


class ConvBlock(nn.Module):
    """3x3 conv (stride 1 or 2), optional BN, ReLU, optional dropout."""

    def __init__(self, c_in: int, c_out: int, stride: int, bn: bool, p: float):
        super().__init__()
        parts: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not bn)]
        if bn:
            parts.append(nn.BatchNorm2d(c_out))
        parts.append(nn.ReLU(inplace=True))
        if p > 0:
            parts.append(nn.Dropout(p))
        self.body = nn.Sequential(*parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class CNN(nn.Module):
    """Conv blocks with the configured downsampling, shortcuts over two blocks (1x1 projection when the
    shape changes), global average pooling and a linear classifier (no hidden classifier layers)."""

    def __init__(self, net: DncNet, in_channels: int, num_classes: int):
        super().__init__()
        channels = [in_channels, *net.widths]
        self.blocks = nn.ModuleList(
            ConvBlock(channels[i], channels[i + 1], 2 if net.down[i] == DOWN_STRIDE else 1, bool(net.bn[i]),
                      net.dropout[i]) for i in range(net.layers))
        self.pool_after = [d == DOWN_POOL for d in net.down]
        self.starts = {i: i + 1 for i, s in enumerate(net.shortcut) if s}  # start layer -> layer it ends after
        self.projections = nn.ModuleDict()
        for start, end in self.starts.items():
            stride = 1
            for i in range(start, end + 1):
                stride *= 2 if net.down[i] == DOWN_STRIDE else 1
                stride *= 2 if (self.pool_after[i] and i < end) else 1
            if stride != 1 or channels[start] != channels[end + 1]:
                self.projections[str(start)] = nn.Conv2d(channels[start], channels[end + 1], 1, stride=stride,
                                                         bias=False)
        self.head = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        saved: dict[int, torch.Tensor] = {}
        ends = {end: start for start, end in self.starts.items()}
        for i, block in enumerate(self.blocks):
            if i in self.starts:
                saved[i] = x
            x = block(x)
            if i in ends:
                start = ends[i]
                skip = saved.pop(start)
                proj = self.projections[str(start)] if str(start) in self.projections else None
                x = x + (proj(skip) if proj is not None else skip)
            if self.pool_after[i] and x.shape[-1] > 1:
                x = nn.functional.max_pool2d(x, 2)
        return self.head(x.mean(dim=(2, 3)))


def build_net(net: DncNet, in_channels: int, image_size: int, num_classes: int) -> nn.Module:
    if net.kind == "mlp":
        return MLP(net, in_channels * image_size * image_size, num_classes)
    return CNN(net, in_channels, num_classes)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_macs(module: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-adds of one forward pass of one example (conv and linear layers)."""
    total = [0]

    def hook(layer, _inputs, output):
        if isinstance(layer, nn.Conv2d):
            kernel = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
            total[0] += output[0].numel() * kernel
        elif isinstance(layer, nn.Linear):
            total[0] += layer.in_features * layer.out_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = module.training
    module.eval()
    with torch.no_grad():
        module(torch.zeros(1, *input_shape))
    module.train(was_training)
    for h in handles:
        h.remove()
    return int(total[0])


# --- the search space of each stage ---------------------------------------------------------------
@dataclass(frozen=True)
class SpaceSpec:
    """The user-settable bounds of stages 1 and 3 (paper defaults per kind, see `default_spec`)."""

    kind: str
    layers: tuple[int, int]  # CNN: conv layers; MLP: hidden layers
    widths: tuple[int, int]  # CNN: channels of the first conv layer; MLP: nodes of every hidden layer
    max_channels: int = 512  # CNN: cap of c_{i+1} <= min(2 c_i, max_channels)
    down_at: tuple[int, ...] = (64, 128, 256)  # CNN: downsample where the channel count crosses these
    dropout: float = 0.3  # stage-1 drop probability after every layer
    shortcuts_above: int = 8  # CNN: stage-1 networks deeper than this get shortcuts
    lr_log10: tuple[float, float] = (-5.0, -1.0)
    wd_log10: tuple[float, float] = (-6.0, -3.0)  # the lowest decade maps to weight decay 0
    batch: tuple[int, int] = (32, 512)

    def channel_bounds(self, i: int) -> tuple[int, int]:
        """(l_i, u_i) of conv layer i (0-based): l = the first layer's minimum, u = min(max_first * 2^i, cap)."""
        return self.widths[0], min(self.widths[1] * 2 ** i, self.max_channels)


def default_spec(kind: str) -> SpaceSpec:
    if kind == "cnn":
        return SpaceSpec("cnn", (4, 16), (16, 64), dropout=0.3)
    return SpaceSpec("mlp", (0, 2), (20, 400), dropout=0.2)


def shortcut_every(spec: SpaceSpec, layers: int) -> float:
    """Stage-1 shortcut frequency: none up to `shortcuts_above` layers, every 4th below 15, else every other."""
    if layers <= spec.shortcuts_above:
        return math.inf
    return 4 if layers < 15 else 2


def shortcuts(layers: int, every: float) -> tuple[int, ...]:
    """1 at the start of each shortcut (every `every` layers from the first); each skips two layers."""
    marks = [0] * layers
    if every != math.inf:
        for i in range(0, layers - 2, int(every)):
            marks[i] = 1
    return tuple(marks)


def downsampling(spec: SpaceSpec, widths: Sequence[int], mode: int = DOWN_POOL) -> tuple[int, ...]:
    """Downsample before the layer whose channels first exceed each threshold (marked on the layer before)."""
    down = [0] * len(widths)
    thresholds = list(spec.down_at)
    for i in range(1, len(widths)):
        if thresholds and widths[i] > thresholds[0]:
            down[i - 1] = mode
            thresholds.pop(0)
    return tuple(down)


def stage1_net(spec: SpaceSpec, widths: Sequence[int]) -> DncNet:
    """The stage-1 network of these widths: every layer followed by BN (CNN) and dropout at the preset."""
    widths = tuple(int(w) for w in widths)
    n = len(widths)
    drop = (spec.dropout,) * n
    if spec.kind == "mlp":
        return DncNet("mlp", widths, drop)
    return DncNet("cnn", widths, drop, downsampling(spec, widths), (1,) * n, shortcuts(n, shortcut_every(spec, n)))


def _pick(lo: float, hi: float, u: float) -> int:
    """Integer in lo..hi from u in [0, 1): floor of the stretched interval (hi inclusive)."""
    return int(min(hi, lo + math.floor(u * (hi + 1 - lo))))


def arch_dims(spec: SpaceSpec) -> int:
    """Unit-cube dimensions that `net_from_unit` reads."""
    return 1 + spec.layers[1]


def net_from_unit(spec: SpaceSpec, u: Sequence[float]) -> DncNet:
    """A stage-1 network from a point of the unit cube (Sobol or uniform), following the paper's rules."""
    n = _pick(*spec.layers, u[0])
    if spec.kind == "mlp":
        return stage1_net(spec, [_pick(*spec.widths, u[1 + i]) for i in range(n)])
    widths = [_pick(*spec.widths, u[1])]
    for i in range(1, n):
        prev = widths[-1]
        widths.append(_pick(prev, min(2 * prev, spec.max_channels), u[1 + i]))
    return stage1_net(spec, widths)


def largest_net(spec: SpaceSpec) -> DncNet:
    """The most expensive stage-1 network: most layers, widest widths (c_0 is measured on it)."""
    n = spec.layers[1]
    if spec.kind == "mlp":
        return stage1_net(spec, [spec.widths[1]] * n)
    widths = [spec.widths[1]]
    for _ in range(1, n):
        widths.append(min(2 * widths[-1], spec.max_channels))
    return stage1_net(spec, widths)


def hyper_from_unit(spec: SpaceSpec, u: Sequence[float]) -> Hyper:
    lr = 10 ** (spec.lr_log10[0] + u[0] * (spec.lr_log10[1] - spec.lr_log10[0]))
    x = spec.wd_log10[0] + u[1] * (spec.wd_log10[1] - spec.wd_log10[0])
    wd = 0.0 if x < spec.wd_log10[0] + 1 else 10 ** x
    return Hyper(float(f"{lr:.4g}"), float(f"{wd:.4g}"), _pick(*spec.batch, u[2]))


def preset_weight_decay(kind: str, params: int, rule: tuple[float, float] | None = None) -> float:
    """The paper's stage-1/2 rule: lambda = 1(N_p >= threshold) * N_p * scale.
    CNN: threshold 1e6, scale 1e-11; MLP (MNIST/FMNIST): threshold 1e4, scale 1e-9."""
    threshold, scale = rule or ((1e6, 1e-11) if kind == "cnn" else (1e4, 1e-9))
    return params * scale if params >= threshold else 0.0


# --- GP inputs: every config as a point of [0, 1]^d (the kernel decodes the layer count) -------------------
def arch_features(spec: SpaceSpec, net: DncNet) -> np.ndarray:
    """CNN: [layers, c_1..c_Lmax] with c_i scaled by its (l_i, u_i) and 0 past the last layer.
    MLP: [layers, total hidden nodes] scaled by (0, Lmax * max nodes)."""
    lo, hi = spec.layers
    count = (net.layers - lo) / (hi - lo) if hi > lo else 0.0
    if spec.kind == "mlp":
        total = sum(net.widths) / max(1, hi * spec.widths[1])
        return np.array([count, total], dtype=np.float64)
    out = np.zeros(1 + hi)
    out[0] = count
    for i, c in enumerate(net.widths):
        low, up = spec.channel_bounds(i)
        out[1 + i] = (c - low) / (up - low) if up > low else 0.0
    return out


def hyper_features(spec: SpaceSpec, hyper: Hyper) -> np.ndarray:
    lr_lo, lr_hi = spec.lr_log10
    wd_lo, wd_hi = spec.wd_log10
    wd = wd_lo if hyper.weight_decay == 0 else math.log10(hyper.weight_decay)
    b_lo, b_hi = spec.batch

    def scale(x, lo, hi):
        return (x - lo) / (hi - lo) if hi > lo else 0.0

    return np.array([scale(math.log10(hyper.lr), lr_lo, lr_hi), scale(wd, wd_lo, wd_hi),
                     scale(hyper.batch_size, b_lo, b_hi)], dtype=np.float64)


# --- stage 2 grids -------------------------------------------------------------------------------
def spread(layers: int, fraction: float) -> tuple[int, ...]:
    """ceil(fraction * L) marks spread evenly and as late as possible (7 layers, 1/2 -> layers 2, 4, 6, 7)."""
    marks = [0] * layers
    count = int(math.ceil(fraction * layers - 1e-9))
    for k in range(1, count + 1):
        marks[int(math.ceil(k * layers / count - 1e-9)) - 1] = 1
    return tuple(marks)


def grid_downsampling(net: DncNet) -> list[DncNet]:
    """Every choice of stride vs max-pool at the network's downsampling layers."""
    spots = [i for i, d in enumerate(net.down) if d != DOWN_NONE]
    out = []
    for choice in range(2 ** len(spots)):
        down = list(net.down)
        for bit, i in enumerate(spots):
            down[i] = DOWN_STRIDE if choice >> bit & 1 else DOWN_POOL
        out.append(replace(net, down=tuple(down)))
    return out


def grid_bn(net: DncNet, fractions: Sequence[float]) -> list[DncNet]:
    return [replace(net, bn=spread(net.layers, f)) for f in fractions]


def grid_dropout(net: DncNet, fractions: Sequence[float], input_probs: Sequence[float],
                 probs: Sequence[float]) -> list[DncNet]:
    """Dropout layers at a fraction of the layers; the first layer's probability from `input_probs`,
    the others from `probs`."""
    out = []
    for f in fractions:
        marks = spread(net.layers, f)
        if not any(marks):
            out.append(replace(net, dropout=(0.0,) * net.layers))
            continue
        for p in probs:
            firsts = input_probs if marks[0] else [p]
            for p0 in firsts:
                drop = tuple((p0 if i == 0 else p) if m else 0.0 for i, m in enumerate(marks))
                out.append(replace(net, dropout=drop))
    return out


def grid_shortcuts(net: DncNet, everies: Sequence[float]) -> list[DncNet]:
    return [replace(net, shortcut=shortcuts(net.layers, e)) for e in everies]


def grid_mlp_dropout(net: DncNet, probs: Sequence[float]) -> list[DncNet]:
    return [replace(net, dropout=(float(p),) * net.layers) for p in probs]


def spec_from_user(kind: str, overrides: dict) -> SpaceSpec:
    """`default_spec(kind)` with overrides; raises UserError on an empty or impossible range."""
    spec = replace(default_spec(kind), **overrides)
    for name in ("layers", "widths", "lr_log10", "wd_log10", "batch"):
        lo, hi = getattr(spec, name)
        if lo > hi:
            raise UserError(f"{name}: empty range {lo}..{hi}")
    if spec.layers[0] < (1 if kind == "cnn" else 0):
        raise UserError(f"layers: a {kind.upper()} needs at least {1 if kind == 'cnn' else 0} layers")
    if spec.widths[0] < 1 or spec.batch[0] < 1:
        raise UserError("widths and batch sizes must be positive")
    if kind == "cnn" and spec.max_channels < spec.widths[1]:
        raise UserError(f"max_channels {spec.max_channels} is below the first layer's maximum {spec.widths[1]}")
    if not 0 <= spec.dropout < 1:
        raise UserError(f"dropout must be in [0, 1), got {spec.dropout}")
    return spec
