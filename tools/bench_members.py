"""Wall time of an ensemble trained by one `samplenas train --members K` against K separate `train` commands.

    python tools/bench_members.py --out runs/bench-members [--members 4] [--steps 1757] [--repeats 2] [--smoke]

Both produce the same K supernets (member i: seed 10 * seed + i, steps / K steps; checked bitwise here). One
command starts Python and imports torch once, K commands K times (every member reads its own data split either
way). Each variant runs
as fresh processes, alternating, `--repeats` times; the printed ratio is the median of separate over one command.
Defaults: the NB101 proxy of the recommended pipeline (stem 16, 3 stacks x 1 cell, JPEG CIFAR-10, four members).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from samplenas.training.supernet_members import member_folder
from samplenas.training.train_config import MAX_MEMBERS, TrainConfig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="scratch folder for the runs (replaced)")
    p.add_argument("--members", type=int, default=4, help="supernets in the ensemble (default 4)")
    p.add_argument("--steps", type=int, default=1757, help="the ensemble's steps, split among its members")
    p.add_argument("--seed", type=int, default=161)
    p.add_argument("--data", default="cifar10-jpeg")
    p.add_argument("--data-dir", default=str(DATA))
    p.add_argument("--repeats", type=int, default=2, help="runs of each variant, alternating (default 2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="seconds: digits, a tiny network, two members of 3 steps")
    args = p.parse_args(argv)
    if args.smoke:
        args.data, args.members, args.steps, args.repeats = "digits", 2, 5, 1
    if not 2 <= args.members <= MAX_MEMBERS or args.steps < args.members or args.repeats < 1:
        p.error(f"--members must be in [2, {MAX_MEMBERS}], --steps at least --members, --repeats positive")
    return args


def members(args) -> list[TrainConfig]:
    """The members `train --members` trains (their seeds and steps), as `TrainConfig.member` derives them."""
    ensemble = TrainConfig(space="nb101", sampler="uniform", seed=args.seed, steps=args.steps, members=args.members)
    return [ensemble.member(index) for index in range(args.members)]


def common_flags(args) -> list[str]:
    member_steps = str(members(args)[0].steps)
    network = ('{"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}' if args.smoke
               else '{"stem_channels": 16, "num_stacks": 3, "cells_per_stack": 1}')
    return ["--space", "nb101", "--sampler", "uniform", "--data", args.data, "--data-dir", args.data_dir,
            "--network", network, "--eval-every", member_steps, "--checkpoint-every", member_steps,
            "--threads", str(args.threads), "--quiet", "--overwrite"]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "samplenas", *argv], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def one_command(args, out: Path) -> float:
    return timed(["train", *common_flags(args), "--members", str(args.members), "--steps", str(args.steps),
                  "--seed", str(args.seed), "--out", str(out)])


def separate_commands(args, out: Path) -> float:
    return sum(timed(["train", *common_flags(args), "--steps", str(member.steps), "--seed", str(member.seed),
                      "--out", str(out / str(index))]) for index, member in enumerate(members(args)))


def same_supernets(args, ensemble: Path, separate: Path) -> bool:
    for index in range(args.members):
        ours = torch.load(member_folder(ensemble, index) / "checkpoint.pt", weights_only=True)["model"]
        theirs = torch.load(separate / str(index) / "checkpoint.pt", weights_only=True)["model"]
        if ours.keys() != theirs.keys() or not all(torch.equal(ours[name], theirs[name]) for name in ours):
            return False
    return True


def main(argv=None) -> int:
    args = parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    if not args.smoke:  # the data set's decoded cache built before either variant is timed
        timed(["train", *common_flags(args), "--steps", "1", "--out", str(args.out / "warm")])
    together, apart = [], []
    for _ in range(args.repeats):
        together.append(one_command(args, args.out / "ensemble"))
        apart.append(separate_commands(args, args.out / "separate"))
    same = same_supernets(args, args.out / "ensemble", args.out / "separate")
    print(f"command: python tools/bench_members.py {shlex.join(sys.argv[1:] if argv is None else argv)}")
    print(f"{args.members} members x {members(args)[0].steps} steps, {args.data}, "
          f"{args.threads} threads, {args.repeats} run(s) each, alternating")
    print(f"one `train --members {args.members}`: median {statistics.median(together):.1f} s  "
          f"({', '.join(f'{t:.1f}' for t in together)})")
    print(f"{args.members} separate `train`s:     median {statistics.median(apart):.1f} s  "
          f"({', '.join(f'{t:.1f}' for t in apart)})")
    print(f"separate / one command: {statistics.median(apart) / statistics.median(together):.2f}x; "
          f"same supernets bitwise: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
