"""Steps/s of multi-process supernet training with three ways of averaging a single path's gradients.

    torchrun --standalone --nproc_per_node=2 tools/bench_supernet_ddp.py [--space nb101] [--steps 100]

- allreduce: what `samplenas train` does (`distributed.all_reduce_gradients`: used-mask, then one flat
  buffer of the union of used gradients; globally unused parameters keep grad None);
- ddp-unused: `DistributedDataParallel(find_unused_parameters=True)` around the supernet;
- ddp-static: `DistributedDataParallel(static_graph=True)`, which assumes every step uses the same
  parameters (a sampled path does not): reported as an error, or as how far its weights end from the
  all-reduce run's.
Quick-start size (8x8 digits, batch 64, the small supernet), uniform sampler (one path per step, so
DDP needs no `no_sync` accumulation), no evaluation rounds; the first 5 steps are not timed.
Prints one row per variant on rank 0.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.distributed as dist
from torch import nn

import samplenas.training.supernet_train as supernet_train
from samplenas.training.distributed import close_world, init_world
from samplenas.training.supernet_train import SupernetTrainer
from samplenas.training.train_config import TrainConfig

WARMUP = 5


def run(variant: str, args, world) -> tuple[float, dict]:
    config = TrainConfig(space=args.space, sampler="uniform", steps=args.steps + WARMUP, eval_every=0,
                         rank_archs=args.rank_archs)
    trainer = SupernetTrainer(config, progress=False, world=world)
    bare = trainer.supernet
    original = supernet_train.all_reduce_gradients
    if variant != "allreduce":
        options = {"find_unused_parameters": True} if variant == "ddp-unused" else {"static_graph": True}
        trainer.supernet = nn.parallel.DistributedDataParallel(bare, **options)
        trainer.supernet.space = bare.space
        supernet_train.all_reduce_gradients = lambda parameters, world: None  # DDP reduces in backward
    try:
        for _ in range(WARMUP):
            trainer.train_step(None)
        dist.barrier()
        started = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(None)
        dist.barrier()
        seconds = time.perf_counter() - started
    finally:
        supernet_train.all_reduce_gradients = original
    return args.steps / seconds, {k: v.detach().clone() for k, v in bare.state_dict().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="nb101")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rank-archs", default="same")
    parser.add_argument("--variants", nargs="*", default=["allreduce", "ddp-unused", "ddp-static"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    world = init_world("cpu")
    reference = None
    try:
        for variant in args.variants:
            try:
                rate, weights = run(variant, args, world)
            except Exception as err:  # report the failure of a variant and go on with the next
                if world.is_main:
                    print(f"{variant:11s} failed: {type(err).__name__}: {str(err).splitlines()[0][:150]}", flush=True)
                continue
            if reference is None:
                reference = weights
            gap = max(float((weights[k].double() - reference[k].double()).abs().max()) for k in weights)
            if world.is_main:
                print(f"{variant:11s} {rate:7.2f} steps/s   max |w - w_{args.variants[0]}| = {gap:.2e}", flush=True)
    finally:
        close_world(world)


if __name__ == "__main__":
    main()
