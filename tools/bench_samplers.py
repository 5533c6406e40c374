"""Cost of drawing architectures with each sampler, and of one VAE training round, against one
NAS-Bench-101 supernet training step (CPU, measured side by side in this one process).

    python tools/bench_samplers.py [--draws 1000] [--cells 1500] [--steps 3] [--threads 1] [--groups 200]

Learned samplers are measured in a trained state (VAE: one round on `--cells` uniform cells scored
by a synthetic objective; evolution: a scored population; mixture: ε = 0.5 over that VAE;
proxy-filter: the filter's own work over uniform draws, with the synthetic objective as its proxy,
since a real zero-cost proxy costs a network build per new cell).
Drawing one architecture must cost < 1 % of a supernet step. Also prints, per space, how far
FairNAS groups are from exact fairness after repair (`FairSampler.deviation`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from samplenas.samplers import SAMPLERS
from samplenas.samplers.fair import FairSampler
from samplenas.samplers.uniform import UniformSampler
from samplenas.spaces import SPACES
from samplenas.supernet import SUPERNETS


def synthetic_score(arch) -> float:
    return float(sum(1 for c in arch if c == 1))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def supernet_step_seconds(steps: int) -> float:
    """Mean wall time of a forward + backward + SGD step, batch 64 at 32x32, default-size NB101 supernet."""
    supernet = SUPERNETS["nb101"]()
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.025, momentum=0.9)
    sampler = UniformSampler(supernet.space, seed=0)
    images, labels = torch.randn(64, 3, 32, 32), torch.randint(10, (64,))

    def step():
        loss = torch.nn.functional.cross_entropy(supernet(images, sampler.sample(1)[0]), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    return sum(timed(step) for _ in range(steps)) / steps


def build_samplers(space) -> dict:
    """Every registered sampler; the mixture shares the VAE object so training it trains both."""
    samplers = {}
    for name in SAMPLERS.names():
        options = {"epsilon": 0.5, "epsilon_inc": 0.0} if name == "mixture" else {}
        samplers[name] = SAMPLERS[name](space, seed=0, **options)
    samplers["evolution"].observe(samplers["evolution"].sample(50), [0.0] * 50)
    samplers["mixture"].inner = samplers["vae"]
    samplers["proxy-filter"].attach_scorer(synthetic_score)
    return samplers


def fairness_table(groups: int) -> None:
    print(f"FairNAS groups ({groups} per space, seed 0): deviation 0 = every choice count in [floor, ceil](m/d)")
    print(f"{'space':<12} {'m':>3} {'exact groups':>13} {'max dev':>8} {'repaired rows/group':>20} {'ms/group':>9}")
    for name in SPACES.names():
        sampler = FairSampler(SPACES[name](), seed=0)
        start = time.perf_counter()
        deviations = np.array([sampler.deviation(sampler.sample_group()) for _ in range(groups)])
        ms = 1e3 * (time.perf_counter() - start) / groups
        print(
            f"{name:<12} {sampler.group_size:>3} {100 * np.mean(deviations == 0):>12.0f}% {deviations.max():>8} "
            f"{sampler.repaired_rows / groups:>20.2f} {ms:>9.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--cells", type=int, default=1500)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--groups", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space = SPACES["nb101"]()

    cells = UniformSampler(space, seed=1).sample(args.cells)
    scores = [synthetic_score(a) for a in cells]
    samplers = build_samplers(space)
    vae = samplers["vae"]
    vae_seconds = timed(lambda: vae.observe(cells, scores))
    step_seconds = supernet_step_seconds(args.steps)

    print(
        f"nb101, CPU, {args.threads} thread(s); supernet step (default size, batch 64, 32x32): "
        f"{step_seconds * 1e3:.0f} ms (mean of {args.steps})"
    )
    print(
        f"VAE training round ({vae.iters} iters x batch {vae.batch_size} on the top {vae.top_percent:g} % "
        f"of {args.cells} cells): {vae_seconds:.2f} s = {vae_seconds / step_seconds:.1f} supernet steps"
    )
    print(f"{'sampler':<12} {f'{args.draws} draws (s)':>16} {'per arch (ms)':>14} {'% of a step':>12}")
    for name, sampler in samplers.items():
        seconds = timed(lambda s=sampler: s.sample(args.draws))
        per_arch = seconds / args.draws
        print(f"{name:<12} {seconds:>16.3f} {per_arch * 1e3:>14.3f} {100 * per_arch / step_seconds:>11.3f}%")
    fairness_table(args.groups)


if __name__ == "__main__":
    main()
