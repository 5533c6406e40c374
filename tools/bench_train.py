"""Supernet training throughput per space at the quick-start size (digits, CPU), and the share of
the run spent in the sampler (drawing, VAE fitting) and in periodic evaluation.

    python tools/bench_train.py [--steps 100] [--sampler uniform] [--sampler vae --epsilon-ramp 0.5]
    python tools/bench_train.py --layouts           # channels-last against N,C,H,W per space, side by side

Prints one row per space (and layout), measured in this one process one after another (same machine load).
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import torch

from samplenas.errors import UserError
from samplenas.training import typed_config
from samplenas.training.supernet_train import SupernetTrainer
from samplenas.training.train_config import SMALL_NETWORKS, TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--sampler", default="uniform")
    ramp = parser.add_mutually_exclusive_group()
    ramp.add_argument("--epsilon-inc", type=float, help="mixture: epsilon added per step (as train's)")
    ramp.add_argument("--epsilon-ramp", type=float, help="mixture: epsilon reaches its maximum after this "
                      "fraction of --steps (as train's)")
    parser.add_argument("--sampler-options", default="{}")
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--spaces", nargs="*", default=sorted(SMALL_NETWORKS))
    parser.add_argument("--layouts", action="store_true", help="also train with N,C,H,W activations (ratio printed)")
    parser.add_argument("--data", default="digits", help="data set (default digits)")
    parser.add_argument("--data-dir", help="its folder")
    args = parser.parse_args()
    try:
        sampler_options = typed_config.loads_object(args.sampler_options, "--sampler-options")
    except UserError as err:
        sys.exit(f"bench_train: {err}")
    torch.set_num_threads(args.threads)
    print(f"{args.data}, batch 64, {args.steps} steps, sampler {args.sampler}, eval every {args.eval_every} "
          f"(16 archs x 256 val images, 2 BN batches), {args.threads} thread(s), device cpu")
    print(f"{'space':<12} {'layout':<7} {'params':>9} {'steps/s':>8} {'sampler':>8} {'eval':>7} {'train':>7} "
          f"{'nhwc/nchw':>9}")
    for space in args.spaces:
        rates = {}
        for layout in (("nhwc", "nchw") if args.layouts else ("nhwc",)):
            try:
                config = TrainConfig(space=space, sampler=args.sampler, steps=args.steps, eval_every=args.eval_every,
                                     epsilon_inc=args.epsilon_inc, epsilon_ramp=args.epsilon_ramp,
                                     sampler_options=sampler_options,
                                     checkpoint_every=10**9, device="cpu", channels_last=layout == "nhwc",
                                     data=args.data, data_dir=args.data_dir)
                trainer = SupernetTrainer(config, progress=False)
            except UserError as err:  # a bad flag: one line, before anything is measured
                sys.exit(f"bench_train: {err}")
            with tempfile.TemporaryDirectory() as out:
                summary = trainer.train(out)
            shares = summary["time_shares"]
            other = 1.0 - sum(shares.values())
            rates[layout] = summary["steps_per_second"]
            ratio = f"{rates['nhwc'] / rates['nchw']:>9.2f}" if layout == "nchw" else ""
            print(f"{space:<12} {layout:<7} {summary['supernet_parameters']:>9,} {summary['steps_per_second']:>8.2f} "
                  f"{shares.get('sampler', 0):>8.1%} {shares.get('evaluation', 0):>7.1%} {other:>7.1%} {ratio}",
                  flush=True)


if __name__ == "__main__":
    main()
