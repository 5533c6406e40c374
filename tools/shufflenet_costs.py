"""Parameters and multiply-adds of ShuffleNet-space architectures, beside SPOS's published numbers.

    python tools/shufflenet_costs.py [--image-size 224] [--width-mult 1.0] [--seed 0]

Published reference (megvii-model/SinglePathOneShot README, "Evaluation" table): the block-search
architecture (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3) at 1.0x channels and
224x224 has 323M FLOPs (multiply-adds) and 3.5M parameters. Only the plain variant is comparable;
VAENAS (appendix A.4) publishes no per-architecture cost of its variant at these widths.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from samplenas.supernet.shufflenet import ShuffleNetSupernet

SPOS_BLOCK_SEARCH = (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3)
PUBLISHED = {SPOS_BLOCK_SEARCH: (3.5, 323.0)}  # params (M), MACs (M)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--width-mult", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random architecture")
    args = parser.parse_args()
    torch.set_num_threads(1)

    nets = {
        variant: ShuffleNetSupernet(image_size=args.image_size, width_mult=args.width_mult, vaenas_variant=variant)
        for variant in (False, True)
    }
    space = nets[False].space
    archs = {
        "all shuffle_3x3": (0,) * 20,
        "all shuffle_5x5": (1,) * 20,
        "all shuffle_7x7": (2,) * 20,
        "all xception_3x3": (3,) * 20,
        f"random (seed {args.seed})": space.sample(np.random.default_rng(args.seed)),
        "SPOS block search": SPOS_BLOCK_SEARCH,
    }
    print(f"image {args.image_size}x{args.image_size}, width x{args.width_mult}, affine BN, 1000 classes")
    header = f"{'architecture':<22} {'plain params':>12} {'plain MACs':>11} {'VAENAS params':>13} {'VAENAS MACs':>12}"
    print(header + f" {'published (SPOS)':>18}")
    for name, arch in archs.items():
        plain, vaenas = nets[False].cost(arch), nets[True].cost(arch)
        published = PUBLISHED.get(arch) if args.image_size == 224 and args.width_mult == 1.0 else None
        ref = f"{published[0]:.1f}M / {published[1]:.0f}M" if published else "-"
        print(
            f"{name:<22} {plain['params'] / 1e6:>11.3f}M {plain['macs'] / 1e6:>10.1f}M "
            f"{vaenas['params'] / 1e6:>12.3f}M {vaenas['macs'] / 1e6:>11.1f}M {ref:>18}"
        )
        print(f"{'':<22} {space.to_str(arch)}")
    for variant, net in nets.items():
        total = sum(p.numel() for p in net.parameters())
        print(f"supernet ({'VAENAS' if variant else 'plain'}) parameters, all choices: {total / 1e6:.3f}M")


if __name__ == "__main__":
    main()
