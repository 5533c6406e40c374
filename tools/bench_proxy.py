"""Training throughput at the NAS-Bench-101 end-to-end proxy, before and after the fast data path, side by side.

`samplenas train` at the proxy (JPEG CIFAR-10, NB101 supernet stem 16 x 3 stacks x 1 cell, batch 64)
and `samplenas retrain` of one cell at the same size, each step split into data time (the next
training batch) and compute time (sampler draw, forward, backward, optimiser step). Variants, run
in one process, rounds interleaved so that machine load hits them alike:

  pil+nchw       the data path before: ImageFolder + per-image PIL decode/ToTensor, N,C,H,W activations
  tensor+nchw    images decoded once into uint8 tensors, batched by indexing (the data module now)
  tensor+cl      the same with channels-last activations (the default now)

    python tools/bench_proxy.py                      # 1 and 2 threads, 5 rounds of 12 steps per variant
    python tools/bench_proxy.py --threads 1 --rounds 3 --steps 8 --augment
    python tools/bench_proxy.py --device cuda --batch-size 256 --variants tensor+nchw tensor+cl \
        --network '{"stem_channels": 128, "num_stacks": 3, "cells_per_stack": 3}'   # a GPU: data there, bf16

Prints images/s per variant (median over rounds), the data/compute split, and ratios to the first variant.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PROXY = {"stem_channels": 16, "num_stacks": 3, "cells_per_stack": 1}
CELL = "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6"
VARIANTS = ("pil+nchw", "tensor+nchw", "tensor+cl")


def legacy_train_split(data_dir: str, augment: bool, seed: int):
    """The training split as the PIL pipeline served it: the same examples, decoded per item."""
    import torchvision.datasets as tvd
    from torchvision import transforms as T

    from samplenas.training.data import _STATS
    from samplenas.training.image_archives import cifar10_jpeg_folder
    from samplenas.training.splits import hold_out

    mean, std = _STATS["cifar10-jpeg"]
    steps = ([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if augment else []) + \
        [T.ToTensor(), T.Normalize(mean, std)]
    folder = cifar10_jpeg_folder(Path(data_dir))
    return hold_out(tvd.ImageFolder(str(folder / "train"), T.Compose(steps)), 0.1, seed)[0]


class TimedStream:
    """A batch stream that adds the time spent producing batches to `seconds`."""

    def __init__(self, stream):
        self.stream, self.seconds = stream, 0.0

    def next(self):
        started = time.perf_counter()
        batch = self.stream.next()
        self.seconds += time.perf_counter() - started
        return batch

    def __getattr__(self, name):
        return getattr(self.stream, name)


def supernet_trainer(args, variant: str, legacy):
    from samplenas.training.supernet_train import SupernetTrainer
    from samplenas.training.train_config import TrainConfig

    config = TrainConfig(space="nb101", sampler="uniform", data="cifar10-jpeg", data_dir=args.data_dir,
                         network=args.network, batch_size=args.batch_size, steps=10**6, eval_every=0,
                         augment=args.augment, channels_last=variant.endswith("+cl"), device=args.device)
    trainer = SupernetTrainer(config, progress=False)
    if variant.startswith("pil"):
        trainer.stream.dataset = legacy
    trainer.stream = TimedStream(trainer.stream)
    return trainer


def supernet_round(trainer, steps: int, out: Path) -> tuple[float, float]:
    trainer.stream.seconds = 0.0
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(out)
    synchronize(str(trainer.device))
    return time.perf_counter() - started, trainer.stream.seconds


def retrain_state(args, variant: str, legacy, data):
    """A standalone cell, its optimiser and a batch stream, as `retrain` trains it."""
    from samplenas.supernet.factory import make_supernet, network_settings
    from samplenas.training.batches import BatchStream
    from samplenas.training.recipes import build_optimizer, resolve_recipe

    recipe = resolve_recipe("nb101", {"network": args.network, "batch_size": args.batch_size})
    torch.manual_seed(0)
    supernet = make_supernet("nb101", network_settings("nb101", args.network, data.info))
    net = supernet.build(supernet.space.parse(CELL)).to(args.device)
    channels_last = variant.endswith("+cl")
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    train = legacy if variant.startswith("pil") else data.to(torch.device(args.device)).train
    stream = TimedStream(BatchStream(train, args.batch_size, 0))
    return net, build_optimizer(net.parameters(), recipe), stream, channels_last, args.device


def retrain_round(state, steps: int) -> tuple[float, float]:
    from samplenas.training.batches import in_memory_format

    net, optimizer, stream, channels_last, device = state
    stream.seconds = 0.0
    started = time.perf_counter()
    net.train()
    for _ in range(steps):
        x, y = stream.next()
        x, y = in_memory_format(x.to(device), channels_last), y.to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - started, stream.seconds


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a round's wall time is its compute."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default=str(DATA), help=f"folder holding cifar10-jpeg (default {DATA})")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="torch thread counts (default 1 2)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per variant (default 5)")
    p.add_argument("--steps", type=int, default=12, help="training steps per round (default 12)")
    p.add_argument("--augment", action="store_true", help="random crop and flip of the training images")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--network", type=json.loads, default=PROXY, help=f"supernet size (default {json.dumps(PROXY)})")
    p.add_argument("--batch-size", type=int, default=64, help="training batch (default 64)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS,
                   help="what to compare; the first is the reference of the ratios (default: all)")
    p.add_argument("--json", type=Path, help="also write the measurements here")
    args = p.parse_args(argv)

    from samplenas.training.data import load_dataset

    legacy = legacy_train_split(args.data_dir, args.augment, 0) if "pil+nchw" in args.variants else None
    data = load_dataset("cifar10-jpeg", args.data_dir, ("train", "val"), augment=args.augment)
    results = []
    with tempfile.TemporaryDirectory() as out:
        for threads in args.threads:
            torch.set_num_threads(threads)
            jobs = {}
            for variant in args.variants:
                trainer = supernet_trainer(args, variant, legacy)
                jobs[("train", variant)] = lambda t=trainer: supernet_round(t, args.steps, Path(out))
                state = retrain_state(args, variant, legacy, data)
                jobs[("retrain", variant)] = lambda s=state: retrain_round(s, args.steps)
            for job in jobs.values():  # warm-up: caches, allocator, first-call kernels
                job()
            times = {key: [] for key in jobs}
            for _ in range(args.rounds):
                for key, job in jobs.items():
                    times[key].append(job())
            for (command, variant), rounds in times.items():
                total = statistics.median(t for t, _ in rounds)
                data_share = statistics.median(d / t for t, d in rounds)
                results.append({"command": command, "variant": variant, "threads": threads,
                                "images_per_second": args.batch_size * args.steps / total, "data_share": data_share,
                                "data_ms": 1000 * total * data_share / args.steps,
                                "compute_ms": 1000 * total * (1 - data_share) / args.steps})
    print(f"NB101 supernet {json.dumps(args.network)}, JPEG CIFAR-10, batch {args.batch_size}, augment={args.augment}, "
          f"{args.device}, {args.rounds} interleaved rounds x {args.steps} steps, median; torch {torch.__version__}")
    reference = args.variants[0]
    print(f"{'command':<8} {'threads':>7} {'variant':<12} {'images/s':>9} {'data ms':>8} {'compute ms':>10} "
          f"{'x ' + reference:>14}")
    for row in results:
        base = next(r for r in results if r["command"] == row["command"] and r["threads"] == row["threads"]
                    and r["variant"] == reference)
        row["ratio"] = row["images_per_second"] / base["images_per_second"]
        print(f"{row['command']:<8} {row['threads']:>7} {row['variant']:<12} {row['images_per_second']:>9.0f} "
              f"{row['data_ms']:>8.1f} {row['compute_ms']:>10.1f} {row['ratio']:>14.2f}")
    print("command: python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]))
    if args.json:
        args.json.write_text(json.dumps({"rows": results, "argv": argv or sys.argv[1:]}, indent=1))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
