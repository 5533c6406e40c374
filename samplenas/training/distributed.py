"""Data-parallel plumbing for retraining and supernet training: one process per device, started by
`torchrun` or not.

`torchrun` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; when WORLD_SIZE > 1 we
join the process group (NCCL on GPUs, gloo on CPUs). Without torchrun the same code runs as a
world of one. Batch norm is synchronised by `GlobalBatchNorm2d` (and its sliced twin for the
supernets' shared BN), which works on every backend: PyTorch's `SyncBatchNorm` refuses CPU tensors,
and the CPU/gloo path is what our tests can run.

Supernet training adds what a single path needs (`all_reduce_gradients`: most parameters get no
gradient in a step, see its docstring for why we do not use DDP's wrapper), a training stream
whose global batch is split over processes, and the helpers that keep every process's replica of
the sampler and of the BN statistics identical.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from samplenas.errors import UserError
from samplenas.supernet.ops import SlicedBatchNorm2d
from samplenas.training.batches import BatchStream, iterate_batches


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_world(device: str | None = None) -> World:
    """Join the process group torchrun describes (if any) and pick this process's device.

    `device`: "cpu", "cuda" or None (a GPU when one is visible).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no GPU is visible")
    torch_device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(torch_device)
    if size > 1 and not dist.is_initialized():
        _bind_collective_defaults_before_joining()
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return World(rank=rank, size=size, local_rank=local_rank, device=torch_device)


def _bind_collective_defaults_before_joining() -> None:
    """Import `torch.distributed.nn` while no process group exists.

    Its collectives take `group=group.WORLD` as a default argument, evaluated at import. The first
    torch.optim optimizer imports torch._dynamo, which imports that module: after `init_process_group`
    those ten defaults would hold the default group for good, so `destroy_process_group` could not free
    it and the gloo threads would outlive `close_world`. A process that then exits at once (a rank
    with nothing left to write) can see a gloo thread release the last collective's tensors during
    interpreter shutdown and abort ("terminate called without an active exception"). Imported first,
    the defaults are None: the default group at call time.
    """
    import torch.distributed.nn  # noqa: F401


def close_world(world: World) -> None:
    """Leave the process group: its threads (gloo's) stop here, before the process exits."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def reduce_sums(values: dict[str, float], world: World) -> dict[str, float]:
    """Sum each value over all processes (metrics are kept as sums and counts, so this is exact)."""
    if not world.distributed:
        return dict(values)
    names = sorted(values)
    tensor = torch.tensor([float(values[n]) for n in names], dtype=torch.float64, device=world.device)
    dist.all_reduce(tensor)
    return dict(zip(names, tensor.tolist()))


def gather_objects(obj, world: World) -> list:
    """Every process's `obj`, in rank order (e.g. RNG states for a checkpoint written by rank 0)."""
    if not world.distributed:
        return [obj]
    gathered: list = [None] * world.size
    dist.all_gather_object(gathered, obj)
    return gathered


_local_bn = 0  # > 0 inside `local_batch_norm()`


@contextmanager
def local_batch_norm():
    """Inside, synchronised batch norms use this process's batch only.

    For work only this process does, such as the BN recalibration of an architecture that this
    process alone scores in an evaluation round: a global statistic would wait for processes that
    are not running that layer.
    """
    global _local_bn
    _local_bn += 1
    try:
        yield
    finally:
        _local_bn -= 1


def _synchronised(norm: nn.BatchNorm2d) -> bool:
    return norm.training and not _local_bn and dist.is_initialized() and dist.get_world_size() > 1


class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over processes: every process's loss depends on the sum, so the gradient
    of each input is the sum of the incoming gradients over processes.
    (`torch.distributed.nn.functional.all_reduce` does the same but is deprecated.)"""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        total = x.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


def global_batch_norm(norm: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """Training-mode batch norm of `x` with statistics over all processes' batches, using the first
    `x.shape[1]` channels of `norm`'s parameters and running statistics (all of them for a plain BN).

    Mean and variance come from all-reduced per-channel sums (two passes, for accuracy); the
    all-reduce is differentiable, so gradients flow through the global statistics exactly as
    in a single process holding the whole batch.
    """
    channels = x.shape[1]
    if channels > norm.num_features:
        raise ValueError(f"channels {channels} outside 1..{norm.num_features}")
    dims = (0, 2, 3)
    x32 = x.float()
    count = torch.tensor([x.numel() // channels], dtype=torch.float32, device=x.device)
    total = _AllReduceSum.apply(torch.cat([x32.sum(dims), count]))
    n = total[-1]
    mean = total[:-1] / n
    centred = x32 - mean.view(1, -1, 1, 1)
    var = _AllReduceSum.apply(centred.square().sum(dims)) / n
    if norm.track_running_stats:
        with torch.no_grad():
            norm.num_batches_tracked.add_(1)
            momentum = 1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum
            norm.running_mean[:channels].lerp_(mean.detach(), momentum)
            norm.running_var[:channels].lerp_(var.detach() * n / (n - 1).clamp(min=1), momentum)
    y = centred * torch.rsqrt(var + norm.eps).view(1, -1, 1, 1)
    if norm.affine:
        y = y * norm.weight[:channels].view(1, -1, 1, 1) + norm.bias[:channels].view(1, -1, 1, 1)
    return y.to(x.dtype)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose training statistics cover the global batch of all processes
    (`global_batch_norm`). Outside a multi-process training step it is plain `BatchNorm2d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _synchronised(self):
            return super().forward(x)
        self._check_input_dim(x)
        if x.shape[1] != self.num_features:
            raise ValueError(f"expected {self.num_features} channels, got {x.shape[1]}")
        return global_batch_norm(self, x)


class GlobalSlicedBatchNorm2d(SlicedBatchNorm2d):
    """A supernet's sliced batch norm (first C channels of the widest statistics) with the global
    statistics of `global_batch_norm`; outside a multi-process training step it is `SlicedBatchNorm2d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _synchronised(self):
            return super().forward(x)
        return global_batch_norm(self, x)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every `BatchNorm2d` in `module` by a `GlobalBatchNorm2d` (a `SlicedBatchNorm2d` by a
    `GlobalSlicedBatchNorm2d`) holding the same state (call before moving the module to its device).
    Parameter and buffer names stay the same, so state dicts load either way."""
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, (GlobalBatchNorm2d, GlobalSlicedBatchNorm2d)):
        kind = GlobalSlicedBatchNorm2d if isinstance(module, SlicedBatchNorm2d) else GlobalBatchNorm2d
        synced = kind(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        synced.load_state_dict(module.state_dict())
        synced.train(module.training)
        return synced
    for name, child in module.named_children():
        setattr(module, name, convert_sync_batchnorm(child))
    return module


def epoch_shard(size: int, global_batch: int, world: World, seed: int, epoch: int) -> np.ndarray:
    """This process's sample indices for one training epoch, in visiting order.

    The permutation depends only on (seed, epoch); shards are interleaved (rank r takes
    positions r, r+P, ...) so with per-process batch B/P the P processes together visit exactly
    the samples of a one-process run with batch B, step by step. The tail that does not fill a
    global batch is dropped: every step sees a full global batch.
    """
    order = np.random.default_rng([seed, epoch]).permutation(size)
    used = order[: (size // global_batch) * global_batch]
    return used[world.rank :: world.size]


def eval_shard(size: int, world: World) -> np.ndarray:
    """Evaluation indices of this process: every sample exactly once across processes, no padding."""
    return np.arange(world.rank, size, world.size)


# --- supernet training: one path per step ----------------------------------------------------------
def all_reduce_gradients(parameters: Iterable[nn.Parameter], world: World) -> None:
    """Average gradients over processes the way one process holding the global batch has them.

    A single-path step leaves most supernet parameters without a gradient, and which ones differs
    from step to step (and from process to process when each trains its own path). A parameter
    that no process used keeps `grad = None`, so SGD's momentum and weight decay skip it exactly as
    in one process; a parameter used anywhere gets the sum over processes divided by their number,
    a process that did not use it contributing zeros. Two all-reduces: the used-mask (one number a
    parameter), then one flat buffer per dtype holding the union of the used gradients.

    Why not `DistributedDataParallel`: `static_graph=True` assumes the same parameters are used in
    every iteration, which a sampled path breaks; `find_unused_parameters=True` is correct but
    traverses the autograd graph after every forward, needs `no_sync()` bookkeeping for the
    gradient accumulation of a FairNAS group, and reduces every bucket of the whole supernet each
    step. Measured (`tools/bench_supernet_ddp.py`, NB101 quick-start size, 2 gloo processes on 2
    shared cores): this all-reduce 9.46 steps/s, `find_unused_parameters` 10.13 steps/s with bitwise
    the same weights (it overlaps the reduction with the backward pass), `static_graph` stops at the
    second step ("Your training graph has changed"). We keep this function for its simplicity: group
    accumulation and the logits' gradients of gradient mode go through it unchanged.
    """
    params = [p for p in parameters if p.requires_grad]
    if not world.distributed or not params:
        return
    used = torch.tensor([float(p.grad is not None) for p in params], device=world.device)
    dist.all_reduce(used)
    union = [p for p, count in zip(params, used.tolist()) if count > 0]
    by_dtype: dict[torch.dtype, list[nn.Parameter]] = defaultdict(list)
    for p in union:
        by_dtype[p.dtype].append(p)
    for group in by_dtype.values():
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in group])
        dist.all_reduce(flat)
        flat /= world.size
        offset = 0
        for p in group:
            chunk = flat[offset:offset + p.numel()].view_as(p)
            offset += p.numel()
            if p.grad is None:
                p.grad = chunk.clone()
            else:
                p.grad.copy_(chunk)


def average_buffers(module: nn.Module, world: World) -> None:
    """Make the BN statistics of every process equal when processes trained different paths:
    floating buffers (running mean and variance) take the mean over processes, integer ones
    (batch counters) the maximum."""
    if not world.distributed:
        return
    buffers = list(module.buffers())
    for floating in (True, False):
        group = [b for b in buffers if b.is_floating_point() == floating]
        if not group:
            continue
        flat = torch.cat([b.reshape(-1).to(torch.float64 if floating else torch.int64) for b in group])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM if floating else dist.ReduceOp.MAX)
        if floating:
            flat /= world.size
        offset = 0
        for b in group:
            b.copy_(flat[offset:offset + b.numel()].view_as(b))
            offset += b.numel()


def broadcast_buffers(module: nn.Module, world: World, src: int) -> None:
    """Every process takes process `src`'s buffers (the BN statistics it recalibrated last)."""
    if world.distributed:
        for b in module.buffers():
            dist.broadcast(b, src)


def broadcast_object(obj, world: World, src: int = 0):
    """Process `src`'s `obj` on every process (e.g. the sampler's state after rank 0 observed)."""
    if not world.distributed:
        return obj
    box = [obj if world.rank == src else None]
    dist.broadcast_object_list(box, src=src, device=world.device if world.device.type == "cuda" else None)
    return box[0]


def on_main(action, world: World) -> None:
    """Run `action` on rank 0 only; a UserError it raises is raised on every process, so that no
    process waits forever for one that stopped (also a barrier)."""
    message = None
    if world.is_main:
        try:
            action()
        except UserError as err:
            message = str(err)
    message = broadcast_object(message, world)
    if message is not None:
        raise UserError(message)


def rank_archs_per_step(group_size: int, world: World, different: bool) -> int:
    """Architectures drawn per step: a whole sampler group (FairNAS: m) when every process trains the
    same ones; with a different path per process, the least number of whole groups that every
    process can share evenly (lcm(m, P): with m processes, one group per step, one path each)."""
    if not different:
        return group_size
    return group_size * world.size // math.gcd(group_size, world.size)


class ShardedBatchStream(BatchStream):
    """`BatchStream` of the global batch, of which this process takes every P-th example.

    The order of global batches (and `state_dict`) is that of a one-process stream with the same
    batch size, so P processes together see exactly the batches one process would see.
    """

    def __init__(self, dataset, batch_size: int, seed: int, num_workers: int, world: World):
        if batch_size % world.size:
            raise UserError(f"batch size {batch_size} is not divisible by the {world.size} processes")
        super().__init__(dataset, batch_size, seed, num_workers)
        self.world = world

    def _start(self) -> None:
        order = self.remaining_order().reshape(-1, self.batch_size)
        mine = order[:, self.world.rank::self.world.size].reshape(-1)
        self._iterator = iterate_batches(self.dataset, mine, self.batch_size // self.world.size, self.num_workers,
                                         key=(self.seed, self.epoch))
