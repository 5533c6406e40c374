"""PBT-NAS variation with real weights: layer mixing with shrink-perturb, and SEARL-like mutation.

The paper (shared/papers/pbt-nas-shrink-perturb.txt, Algorithm 2) makes a child by copying the better
parent and replacing each architecture variable, with probability p, by the worse parent's value; when
the variable is a layer, the layer's weights come along and are shrink-perturbed,
W <- lambda * W_donor + gamma * W_fresh, with W_fresh from a fresh initialisation of the child.

What is copied (read from the authors' code, AwesomeLemon/PBT-NAS `search/algorithms/mix.py`, and
kept here): every tensor of the moved module's state -- weights, biases *and* batch-norm running
statistics -- is shrink-perturbed against the fresh module's tensor (a fresh BN has mean 0 and
variance 1, so a moved BN's running variance becomes lambda * var + gamma); integer counters
(`num_batches_tracked`) are copied as they are. Everything else comes from the better parent.

How each space maps a position to modules of its `build(arch)` network:

* shufflenet: position i is the unit `layers.i.<choice>` (one unit per layer).
* nasnet: position p is edge p % 14 of the normal (p < 14) or reduction cell; the op module
  `cells.k.edges.e.<op>` of *every* cell of that type moves (the genotype is shared by all cells of a
  type). 'none' and the pools have no weights, so choosing them moves nothing. A mixed child can leave a
  node with no input (all its edges 'none'); then that node's swapped edges revert to the better
  parent's (which was valid), the smallest repair that keeps the rest of the mix.
* autoencoder: position i is encoder layer i and its mirrored decoder layer. Empty positions are a
  choice without a module: the child takes, position by position, either parent's layer (possibly
  empty); the chosen layers are then packed to the front (a layer keeps its weights when it moves up)
  and if nothing is left the better parent's first layer stays. Channel counts depend on neighbouring
  layers, so a module's shape can differ from its source's: then the overlapping block (first output
  channels, first input channels, as the supernet slices them) comes from the source, shrink-perturbed
  if moved, and the rest is the fresh initialisation. The reduction/dilation modules come from the
  better parent the same way.
* nb101: refused (see `NB101_REFUSAL`).

`mix` is a pure function of the parents' states, the architectures, a numpy Generator and a torch
seed, so the driver can reproduce it exactly on `--resume`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from samplenas.errors import UserError
from samplenas.spaces.base import Arch

MIXABLE = ("shufflenet", "nasnet", "autoencoder")
NB101_REFUSAL = (
    "nb101 cannot be mixed layer by layer: a cell's vertex channel counts follow from its whole graph "
    "(the output channels are split over the vertices that feed the output), so an edge or op moved from "
    "another cell meets tensors of other shapes; PBT-NAS needs positions whose options are interchangeable"
)

BETTER, DONOR = 0, 1


def check_mixable(space: str) -> None:
    """One-line UserError for spaces whose positions are not layer-substitutable."""
    if space == "nb101":
        raise UserError(NB101_REFUSAL)
    if space not in MIXABLE:
        raise UserError(f"space {space!r} has no PBT-NAS mixing; valid: {', '.join(MIXABLE)}")


@dataclass(frozen=True)
class ShrinkPerturb:
    """W <- shrink * W_source + perturb * W_fresh (Ash & Adams 2020). [1, 0] copies, [0, 1] re-initialises."""

    shrink: float = 0.4
    perturb: float = 0.1

    def apply(self, source: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
        if not source.is_floating_point():
            return source.clone()  # num_batches_tracked
        return self.shrink * source + self.perturb * fresh


@dataclass
class Child:
    """A new member: its architecture, network state, and which optimiser states survive.

    `kept_params` maps each child parameter name whose value is the better parent's, unchanged and of
    the same shape, to that parameter's name in the better parent: only those keep their optimiser
    state (momentum / Adam moments); moved, refitted or fresh parameters start with none.
    """

    arch: Arch
    state: dict[str, torch.Tensor]
    moved: list[int] = field(default_factory=list)  # child positions whose modules came from the donor
    kept_params: dict[str, str] = field(default_factory=dict)


# --- how a space's build() network names the modules of its positions -------------------------
_SHUFFLE = re.compile(r"^layers\.(\d+)\.")
_DARTS = re.compile(r"^cells\.(\d+)\.edges\.(\d+)\.")
_OPS = re.compile(r"^ops\.(\d+)\.(.*)$")


def key_roles(supernet, arch: Arch, keys: Sequence[str]) -> dict[str, tuple[int | None, str]]:
    """For each state-dict key of `supernet.build(arch)`: (position or None, role template).

    `template.format(position)` names what the tensor *is* independently of the network it sits in,
    so the same layer can be found in another parent (autoencoder step indices shift with the number
    of layers; the other spaces' keys are already network-independent).
    """
    name = supernet.space.name
    roles: dict[str, tuple[int | None, str]] = {}
    if name == "shufflenet":
        for key in keys:
            match = _SHUFFLE.match(key)
            roles[key] = (int(match.group(1)), _SHUFFLE.sub("layers.{}.", key)) if match else (None, key)
    elif name == "nasnet":
        from samplenas.spaces.nasnet import EDGES_PER_CELL

        layers = supernet.settings["layers"]
        reduction = {i for i in range(layers) if i in (layers // 3, 2 * layers // 3)}
        for key in keys:
            match = _DARTS.match(key)
            if match is None:
                roles[key] = (None, key)
                continue
            cell, edge = int(match.group(1)), int(match.group(2))
            roles[key] = (edge + (EDGES_PER_CELL if cell in reduction else 0), key)
    elif name == "autoencoder":
        steps = supernet.steps(arch)
        for key in keys:
            match = _OPS.match(key)
            step = steps[int(match.group(1))]
            if step.position is None:
                roles[key] = (None, f"{step.kind}.{step.slot}.{match.group(2)}")
            else:
                roles[key] = (step.position, f"{step.kind}.{{}}.{match.group(2)}")
    else:
        check_mixable(name)
    return roles


def _role_index(supernet, arch: Arch, state: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """role name -> state key, for looking a layer up in a parent."""
    return {template.format(pos) if pos is not None else template: key
            for key, (pos, template) in key_roles(supernet, arch, list(state)).items()}


# --- choosing the child's architecture --------------------------------------------------------
def mix_arch(space, better: Arch, donor: Arch, swap: Sequence[bool]) -> tuple[Arch, list[int], list[int]]:
    """(child arch, source per child position, source position per child position).

    `swap[i]`: position i takes the donor's choice. Repairs as the module docstring says.
    """
    swap = [bool(s) for s in swap]
    if space.name == "nasnet":
        from samplenas.spaces.nasnet import EDGES_PER_CELL, NODES, NONE, node_positions

        child = [d if s else b for b, d, s in zip(better, donor, swap)]
        for offset in (0, EDGES_PER_CELL):
            for node in NODES:
                group = [offset + p for p in node_positions(node)]
                if all(child[q] == NONE for q in group):
                    for q in group:
                        child[q], swap[q] = better[q], False
        return space.validate(child), [DONOR if s else BETTER for s in swap], list(range(len(child)))
    if space.name == "autoencoder":
        from samplenas.spaces.autoencoder import EMPTY

        picked = [(d, DONOR, i) if s else (b, BETTER, i) for i, (b, d, s) in enumerate(zip(better, donor, swap))]
        kept = [entry for entry in picked if entry[0] != EMPTY]
        if not kept:
            kept = [(better[0], BETTER, 0)]
        pad = len(better) - len(kept)
        child = tuple(c for c, _, _ in kept) + (EMPTY,) * pad
        sources = [src for _, src, _ in kept] + [BETTER] * pad
        origins = [pos for _, _, pos in kept] + list(range(len(kept), len(better)))
        return space.validate(child), sources, origins
    child = [d if s else b for b, d, s in zip(better, donor, swap)]
    return space.validate(child), [DONOR if s else BETTER for s in swap], list(range(len(child)))


# --- building the child's weights ----------------------------------------------------------------
def fit(source: torch.Tensor, fresh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(source resized to `fresh`'s shape, mask of the entries that came from `source`).

    Same shape: the source itself. Otherwise the leading block both share (first channels, as the
    supernet slices them) comes from the source and the rest from `fresh`.
    """
    if source.shape == fresh.shape:
        return source.clone(), torch.ones(fresh.shape, dtype=torch.bool)
    if source.dim() != fresh.dim():
        return fresh.clone(), torch.zeros(fresh.shape, dtype=torch.bool)
    out = fresh.clone()
    mask = torch.zeros(fresh.shape, dtype=torch.bool)
    block = tuple(slice(0, min(a, b)) for a, b in zip(source.shape, fresh.shape))
    out[block] = source[block].to(out.dtype)
    mask[block] = True
    return out, mask


def fresh_state(supernet, arch: Arch, seed: int) -> dict[str, torch.Tensor]:
    """`supernet.build(arch)`'s state under `torch.manual_seed(seed)`, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return {k: v.detach().clone() for k, v in supernet.build(arch).state_dict().items()}


def assemble(supernet, child_arch: Arch, sources: Sequence[int], origins: Sequence[int],
             better: tuple[Arch, Mapping[str, torch.Tensor]], donor: tuple[Arch, Mapping[str, torch.Tensor]] | None,
             sp: ShrinkPerturb, seed: int) -> Child:
    """The child's state: per tensor, from the donor (shrink-perturbed) when its position is a donor
    position, else from the better parent; `donor=None` means the fresh network is the donor (a
    re-sampled variable in SEARL-like mutation). See the module docstring for shapes that differ."""
    fresh = fresh_state(supernet, child_arch, seed)
    param_names = {name for name, _ in supernet.build(child_arch).named_parameters()} if fresh else set()
    roles = key_roles(supernet, child_arch, list(fresh))
    better_index = _role_index(supernet, better[0], better[1])
    donor_index = _role_index(supernet, donor[0], donor[1]) if donor is not None else {}
    state: dict[str, torch.Tensor] = {}
    kept: dict[str, str] = {}
    for key, fresh_tensor in fresh.items():
        position, template = roles[key]
        role = template if position is None else template.format(origins[position])
        if position is not None and sources[position] == DONOR:
            donor_key = donor_index.get(role)
            if donor_key is None:  # the fresh network is the donor
                state[key] = fresh_tensor
                continue
            source, mask = fit(donor[1][donor_key], fresh_tensor)
            mixed = sp.apply(source, fresh_tensor)
            state[key] = torch.where(mask, mixed, fresh_tensor) if fresh_tensor.is_floating_point() else mixed
            continue
        better_key = better_index.get(role)
        if better_key is None:
            state[key] = fresh_tensor
            continue
        source, mask = fit(better[1][better_key], fresh_tensor)
        state[key] = source
        if key in param_names and bool(mask.all()) and better[1][better_key].shape == fresh_tensor.shape:
            kept[key] = better_key
    moved = [i for i, s in enumerate(sources) if s == DONOR and i < len(child_arch)]
    return Child(arch=child_arch, state=state, moved=moved, kept_params=kept)


def mix(supernet, better: tuple[Arch, Mapping[str, torch.Tensor]], donor: tuple[Arch, Mapping[str, torch.Tensor]],
        p: float, sp: ShrinkPerturb, rng: np.random.Generator, seed: int) -> Child:
    """Algorithm 2 for one child: each position swaps to the donor's with probability `p`."""
    swap = rng.random(len(better[0])) < p
    child_arch, sources, origins = mix_arch(supernet.space, better[0], donor[0], swap)
    return assemble(supernet, child_arch, sources, origins, better, donor, sp, seed)


# --- SEARL-like mutation (the baseline) -------------------------------------------------------------
def resample_one(space, arch: Arch, rng: np.random.Generator) -> tuple[Arch, list[int], list[int]]:
    """Resample one uniformly chosen variable to another value that keeps the architecture valid
    (autoencoder: packed as in mixing). Returns what `mix_arch` returns, the fresh network as donor."""
    for _ in range(1000):
        position = int(rng.integers(len(arch)))
        value = int(rng.integers(space.dims[position] - 1))
        value += value >= arch[position]  # a different value
        candidate = list(arch)
        candidate[position] = value
        swap = [i == position for i in range(len(arch))]
        try:
            result = mix_arch(space, arch, tuple(candidate), swap)
        except ValueError:
            continue
        if result[0] != tuple(arch):  # a repair can undo the change (nasnet: a node left without input)
            return result
    raise RuntimeError("no valid single-variable resample found in 1000 draws")


def perturb_weights(state: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """SEARL's weight mutation (Franke et al. 2021, as the PBT-NAS authors ran it): a random number
    of weight matrices (dim > 1; BN excluded), and in each up to 10 % of entries: 5 % get noise of
    10x their magnitude, 5 % are reset to N(0, 1), the rest get noise of 0.1x their magnitude."""
    out = {k: v.clone() for k, v in state.items()}
    candidates = [k for k, v in out.items() if v.is_floating_point() and v.dim() > 1]
    if not candidates:
        return out
    chosen = rng.choice(len(candidates), int(rng.integers(1, len(candidates) + 1)), replace=False)
    for index in chosen:
        w = out[candidates[int(index)]]
        flat = w.view(-1).numpy() if w.is_contiguous() else w.reshape(-1).numpy()
        n = flat.size
        fraction = rng.integers(max(1, int(np.ceil(0.1 * n)))) / n
        hit = rng.random(n) < fraction
        kind = rng.random(n)
        noise_big = rng.normal(0.0, 1.0, n) * np.abs(10.0 * flat)
        noise_small = rng.normal(0.0, 1.0, n) * np.abs(0.1 * flat)
        reset = rng.normal(0.0, 1.0, n)
        new = np.where(kind < 0.05, flat + noise_big, np.where(kind < 0.10, reset, flat + noise_small))
        flat[:] = np.where(hit, new, flat).astype(flat.dtype)
        out[candidates[int(index)]] = torch.from_numpy(flat.reshape(w.shape).copy())
    return out
