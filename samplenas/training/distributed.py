"""Data-parallel plumbing for retraining: one process per device, started by `torchrun` or not.

`torchrun` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; when WORLD_SIZE > 1 we
join the process group (NCCL on GPUs, gloo on CPUs). Without torchrun the same code runs as a
world of one. Batch norm is synchronised by `GlobalBatchNorm2d`, which works on every backend:
PyTorch's `SyncBatchNorm` refuses CPU tensors, and the CPU/gloo path is what our tests can run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn

from samplenas.errors import UserError


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
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return World(rank=rank, size=size, local_rank=local_rank, device=torch_device)


def close_world(world: World) -> None:
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


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose training statistics cover the global batch of all processes.

    Mean and variance come from all-reduced per-channel sums (two passes, for accuracy); the
    all-reduce is differentiable, so gradients flow through the global statistics exactly as
    in a single process holding the whole batch. Outside a multi-process training step it is
    plain `BatchNorm2d`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = (0, 2, 3)
        x32 = x.float()
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float32, device=x.device)
        total = dist_fn.all_reduce(torch.cat([x32.sum(dims), count]))
        n = total[-1]
        mean = total[:-1] / n
        centred = x32 - mean.view(1, -1, 1, 1)
        var = dist_fn.all_reduce(centred.square().sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp(min=1), momentum)
        y = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every `BatchNorm2d` in `module` by a `GlobalBatchNorm2d` holding the same state
    (call before moving the module to its device)."""
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, GlobalBatchNorm2d):
        synced = GlobalBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                   module.track_running_stats)
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
