"""Retraining throughput: training images/s of a built network, measured side by side in one run.

On a GPU: fp32 NCHW vs bf16 autocast + channels-last (the `samplenas retrain` defaults there).
On CPU only fp32 is measured (autocast on CPU is not what retrain uses).

    python tools/bench_retrain.py --space nb101 --network '{"stem_channels": 32}' --batch 64 --steps 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from samplenas.supernet import SUPERNETS
from samplenas.training.recipes import build_optimizer, resolve_recipe

DEFAULT_ARCH = {
    "nb101": "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6",
    "shufflenet": "3x3,3x3,3x3,3x3|3x3,3x3,3x3,3x3|3x3,3x3,3x3,3x3,3x3,3x3,3x3,3x3|3x3,3x3,3x3,3x3",
    "autoencoder": "5x5conv2d:32,3x3conv2d:64",
}


def images_per_second(net, recipe, x, y, steps: int, amp: bool, channels_last: bool) -> float:
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer = build_optimizer(net.parameters(), recipe)
    context = torch.autocast("cuda", dtype=torch.bfloat16) if amp else torch.autocast("cpu", enabled=False)

    def step():
        with context:
            out = net(x)
            out = out[0] if isinstance(out, tuple) else out
            loss = torch.nn.functional.mse_loss(out.float(), x.float()) if y is None else \
                torch.nn.functional.cross_entropy(out.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return steps * len(x) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="nb101", choices=sorted(DEFAULT_ARCH))
    parser.add_argument("--arch")
    parser.add_argument("--network", default="{}", help="JSON supernet settings")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(1)
    device = torch.device("cuda" if cuda else "cpu")
    channels = 1 if args.space == "autoencoder" else 3
    settings = {"in_channels": channels, "image_size": args.image_size, **json.loads(args.network)}
    supernet = SUPERNETS[args.space](**settings)
    arch = supernet.space.parse(args.arch or DEFAULT_ARCH[args.space])
    recipe = resolve_recipe(args.space)
    x = torch.randn(args.batch, channels, args.image_size, args.image_size, device=device)
    x = x.tanh() if args.space == "autoencoder" else x
    y = None if args.space == "autoencoder" else torch.randint(0, 10, (args.batch,), device=device)
    configs = [("fp32 NCHW", False, False)] + ([("bf16 channels-last", True, True)] if cuda else [])
    rates = {}
    for name, amp, channels_last in configs:
        torch.manual_seed(0)
        net = supernet.build(arch).to(device).train()
        rates[name] = images_per_second(net, recipe, x, y, args.steps, amp, channels_last)
    print(f"device: {torch.cuda.get_device_name() if cuda else 'cpu (1 thread)'}; space {args.space}; "
          f"batch {args.batch}; {args.image_size}x{args.image_size}; cost {supernet.cost(arch)}")
    base = rates["fp32 NCHW"]
    for name, rate in rates.items():
        print(f"  {name:20s} {rate:10.1f} images/s   x{rate / base:.2f}")
    print("command: python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
