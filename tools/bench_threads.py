"""Supernet training steps/s with 1, 2, ... torch threads, on an idle machine and beside a competing
CPU load: where torch's default thread count (one per core) helps and where it hurts.

    flock /tmp/samplenas-heavy.lock python tools/bench_threads.py [--steps 40] [--threads 1 2] [--load 2]

Each cell is one fresh `samplenas train --threads N` (uniform sampler, no evaluation rounds, the
CPU quick-start network sizes on 8x8 digits); its steps/s comes from the run's summary.json, so
start-up is not counted. "loaded" runs beside `--load` busy processes (one pure-Python spin loop
each, standing for the other jobs of a shared machine), started before and stopped after the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACES = ("nb101", "shufflenet")
SPIN = "while True: pass"


def child_env() -> dict[str, str]:
    """The environment without thread-count variables, so only --threads decides."""
    return {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def train_steps_per_second(space: str, threads: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "samplenas", "train", "--space", space, "--sampler", "uniform",
                   "--steps", str(steps), "--eval-every", "0", "--checkpoint-every", str(steps), "--device", "cpu",
                   "--threads", str(threads), "--quiet", "--out", out]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=child_env())
        return json.loads((Path(out) / "summary.json").read_text())["steps_per_second"]


def with_load(processes: int, work):
    """Run `work()` while `processes` spin loops compete for the cores; stop them (by pid) afterwards."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(processes)]
    try:
        time.sleep(0.5)  # let the spinners reach the run queue
        return work()
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps per run (default 40)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--load", type=int, default=os.cpu_count() or 2,
                        help="competing busy processes in the 'loaded' column (default: one per core)")
    parser.add_argument("--spaces", nargs="+", default=SPACES)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average before {os.getloadavg()[0]:.2f}; {args.steps} steps per run, "
          f"uniform sampler, digits 8x8, batch 64; loaded = beside {args.load} spin loops")
    print(f"{'space':<12} {'threads':>7} {'idle steps/s':>13} {'loaded steps/s':>15}")
    for space in args.spaces:
        for threads in args.threads:
            idle = train_steps_per_second(space, threads, args.steps)
            loaded = with_load(args.load, lambda: train_steps_per_second(space, threads, args.steps))  # noqa: B023
            print(f"{space:<12} {threads:>7} {idle:>13.2f} {loaded:>15.2f}", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
