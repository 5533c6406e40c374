"""Training-step cost of each supernet against its extracted standalone subnet, side by side.

    python tools/bench_supernet.py [--space all] [--batch N] [--archs 3] [--repeats 8] [--device auto] [--amp]
    python tools/bench_supernet.py --space nb101 --network '{"weight_copies": 4}'   # a setting over the setup's

One training step = zero_grad, forward, loss, backward, SGD step (lr 0.01, momentum 0.9). The
supernet side runs `supernet(x, arch)` with one SGD optimizer over all supernet parameters, as a
supernet training loop does; the standalone side runs `supernet.extract(arch)` (train mode) with
its own optimizer. Both see the same batch. For every random architecture both take warm-up steps,
then `--repeats` pairs of steps, interleaved (the order alternates within each pair) so that load
from other processes hits both alike. The ratio is the median over all pairs of
supernet-time / standalone-time; the absolute times are medians over all steps. Two clocks: wall
time, and (on CPU) the process's CPU time, which leaves out time spent descheduled when other
processes share the cores. A single path does no extra arithmetic, so the physical limit of the
ratio is 1.0.

Peak memory is measured in a fresh subprocess per side on the first architecture, after one warm-up
step: on CPU the process's peak resident set (VmHWM, reset through /proc/self/clear_refs) during
two steps, with glibc told to mmap every allocation over 64 KiB so freed tensors leave the resident
set; on CUDA `torch.cuda.max_memory_allocated`. "peak" is the whole process (CPU: Python, torch,
weights, optimizer state; CUDA: all live tensors), "step" the part above the state before the step
(activations, gradients, temporaries; a sliced shared weight gets a gradient of its full size).

On CUDA the run also reports images/s of a training step of the NB101 supernet at its official size
(stem 128, 3x3 cells) at CIFAR resolution, batch 256 (`--throughput-batch`).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import gc
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samplenas.supernet import SUPERNETS


@dataclass(frozen=True)
class Setup:
    """A CPU-feasible but realistic configuration of one space's supernet."""

    settings: dict
    input_shape: tuple[int, int, int]
    batch: int
    reconstruct: bool = False  # autoencoders train on reconstruction, the others on labels
    note: str = field(default="", compare=False)


SETUPS = {
    "nb101": Setup({"stem_channels": 32}, (3, 32, 32), 32, note="stem 32 (official 128), 3x3 cells, CIFAR 32x32"),
    "nasnet": Setup({"C": 16, "layers": 8}, (3, 32, 32), 16, note="C=16, 8 cells, non-affine BN, 32x32"),
    "shufflenet": Setup(
        {"num_classes": 10, "image_size": 32}, (3, 32, 32), 16, note="CIFAR layout 32x32, width 1.0, 10 classes"
    ),
    "autoencoder": Setup(
        {"in_channels": 1, "image_size": 28}, (1, 28, 28), 32, True, note="MNIST 28x28, 10 positions, 2 reductions"
    ),
}
NUM_CLASSES = 10
THROUGHPUT_SPACE = "nb101"  # at its default (official) size
MMAP_THRESHOLD = str(64 * 1024)
SIDES = ("supernet", "standalone")


# --- one training step ------------------------------------------------------------------------
class Trainer:
    """One model (a callable on a batch) with its optimizer; `step()` is one timed training step."""

    def __init__(self, forward: Callable, optimizer, x, target, reconstruct: bool, amp: bool):
        self.forward, self.optimizer, self.x, self.target, self.reconstruct = forward, optimizer, x, target, reconstruct
        self.device_type = x.device.type
        amp_dtype = torch.float16 if self.device_type == "cuda" else torch.bfloat16
        self.autocast = lambda: torch.autocast(self.device_type, dtype=amp_dtype, enabled=amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp and self.device_type == "cuda")

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            out = self.forward(self.x)
            if self.reconstruct:
                loss = F.mse_loss(out.float(), self.target)
            else:
                loss = F.cross_entropy(out.float(), self.target)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def timed_step(self) -> tuple[float, float]:
        """(wall-clock, process CPU) seconds of one step."""
        synchronize(self.x.device)
        wall, cpu = time.perf_counter(), time.process_time()
        self.step()
        synchronize(self.x.device)
        return time.perf_counter() - wall, time.process_time() - cpu


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_batch(setup: Setup, batch: int, device: torch.device, seed: int):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *setup.input_shape, generator=generator)
    if setup.reconstruct:
        x = torch.tanh(x)  # a target the tanh output can reach
        return x.to(device), x.to(device)
    return x.to(device), torch.randint(0, NUM_CLASSES, (batch,), generator=generator).to(device)


def build_supernet(space: str, setup: Setup, device: torch.device) -> nn.Module:
    return SUPERNETS[space](**setup.settings).to(device).train()


def sample_archs(supernet, count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [supernet.space.sample(rng) for _ in range(count)]


def sgd(module: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)


def supernet_trainer(supernet, optimizer, arch, x, target, setup: Setup, amp: bool) -> Trainer:
    return Trainer(lambda t: supernet(t, arch), optimizer, x, target, setup.reconstruct, amp)


def standalone_trainer(supernet, arch, x, target, setup: Setup, amp: bool) -> Trainer:
    standalone = supernet.extract(arch).train()
    return Trainer(standalone, sgd(standalone), x, target, setup.reconstruct, amp)


# --- timing -------------------------------------------------------------------------------------
@dataclass
class Timing:
    """Step times of both sides, paired; `clock` 0 = wall-clock, 1 = process CPU time."""

    supernet: list[tuple[float, float]] = field(default_factory=list)
    standalone: list[tuple[float, float]] = field(default_factory=list)

    def add_pair(self, shared: Trainer, alone: Trainer, supernet_first: bool) -> None:
        if supernet_first:
            t_shared, t_alone = shared.timed_step(), alone.timed_step()
        else:
            t_alone, t_shared = alone.timed_step(), shared.timed_step()
        self.supernet.append(t_shared)
        self.standalone.append(t_alone)

    def extend(self, other: Timing) -> None:
        self.supernet.extend(other.supernet)
        self.standalone.extend(other.standalone)

    def median_ms(self, side: str, clock: int) -> float:
        return 1e3 * statistics.median(t[clock] for t in getattr(self, side))

    def ratio(self, clock: int) -> float:
        """Median over pairs of supernet / standalone time."""
        return statistics.median(s[clock] / a[clock] for s, a in zip(self.supernet, self.standalone))


def time_space(space: str, setup: Setup, args, device: torch.device) -> Timing:
    """Interleaved steps of both sides over `args.archs` random architectures."""
    supernet = build_supernet(space, setup, device)
    x, target = make_batch(setup, args.batch or setup.batch, device, args.seed)
    timing, optimizer = Timing(), sgd(supernet)  # one optimizer across architectures, as in supernet training
    for index, arch in enumerate(sample_archs(supernet, args.archs, args.seed)):
        shared = supernet_trainer(supernet, optimizer, arch, x, target, setup, args.amp)
        alone = standalone_trainer(supernet, arch, x, target, setup, args.amp)
        for _ in range(args.warmup):
            shared.step()
            alone.step()
        arch_timing = Timing()
        for repeat in range(args.repeats):
            arch_timing.add_pair(shared, alone, supernet_first=repeat % 2 == 0)
        timing.extend(arch_timing)
        print(
            f"  arch {index}: wall {arch_timing.median_ms('supernet', 0):.1f} / "
            f"{arch_timing.median_ms('standalone', 0):.1f} ms = {arch_timing.ratio(0):.3f}, "
            f"cpu {arch_timing.median_ms('supernet', 1):.1f} / {arch_timing.median_ms('standalone', 1):.1f} ms "
            f"= {arch_timing.ratio(1):.3f}   {supernet.space.to_str(arch)[:80]}",
            flush=True,
        )
    return timing


def throughput(args, device: torch.device) -> float:
    """Images/s of NB101 supernet training steps at its official size, CIFAR 32x32."""
    setup = Setup({}, SETUPS[THROUGHPUT_SPACE].input_shape, args.throughput_batch)
    supernet = build_supernet(THROUGHPUT_SPACE, setup, device)
    x, target = make_batch(setup, setup.batch, device, args.seed)
    times, optimizer = [], sgd(supernet)
    for arch in sample_archs(supernet, args.archs, args.seed):
        shared = supernet_trainer(supernet, optimizer, arch, x, target, setup, args.amp)
        for _ in range(args.warmup):
            shared.step()
        times.extend(shared.timed_step()[0] for _ in range(args.repeats))
    return setup.batch / statistics.median(times)


# --- memory ------------------------------------------------------------------------------------
def _proc_status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        return int(re.search(rf"^{key}:\s+(\d+) kB", status.read(), re.M).group(1))


def _release_freed_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: freed memory may stay resident (peak overstated)
        pass


def setup_of(space: str, args) -> Setup:
    """The space's setup with `--network` settings over its own."""
    setup = SETUPS[space]
    return dataclasses.replace(setup, settings={**setup.settings, **args.network}) if args.network else setup


def probe_memory(space: str, side: str, args, device: torch.device) -> dict:
    """Peak memory of one side's training steps on the first architecture (run in a fresh process)."""
    setup = setup_of(space, args)
    supernet = build_supernet(space, setup, device)
    x, target = make_batch(setup, args.batch or setup.batch, device, args.seed)
    arch = sample_archs(supernet, 1, args.seed)[0]
    if side == "supernet":
        trainer = supernet_trainer(supernet, sgd(supernet), arch, x, target, setup, args.amp)
    else:
        trainer = standalone_trainer(supernet, arch, x, target, setup, args.amp)
        del supernet  # only the extracted copy stays resident
    trainer.step()  # optimizer state, kernels' one-time buffers
    trainer.optimizer.zero_grad(set_to_none=True)  # gradients count as part of the step
    _release_freed_memory()
    if device.type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(2):
            trainer.step()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
    else:
        before = _proc_status_kib("VmRSS") * 1024
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset VmHWM to the current resident set
        for _ in range(2):
            trainer.step()
        peak = _proc_status_kib("VmHWM") * 1024
    return {"peak_mib": peak / 2**20, "step_mib": (peak - before) / 2**20}


def measure_memory(space: str, side: str, args) -> dict | None:
    """`probe_memory` in a fresh interpreter, so nothing the other side allocated is resident."""
    command = [sys.executable, str(Path(__file__).resolve()), "--space", space, "--memory-probe", side]
    command += ["--device", args.device, "--seed", str(args.seed)]
    command += (["--batch", str(args.batch)] if args.batch else []) + (["--amp"] if args.amp else [])
    command += ["--network", json.dumps(args.network)] if args.network else []
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        print(f"  memory probe {space}/{side} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- report ------------------------------------------------------------------------------------
def print_table(rows, clocks: tuple[int, ...]) -> None:
    """Markdown table: per clock (wall, and CPU time on CPU) both medians and the paired ratio."""
    names = {0: "wall", 1: "cpu"}
    header = ["space", "batch"]
    for clock in clocks:
        header += [f"supernet {names[clock]} ms", f"standalone {names[clock]} ms", f"ratio {names[clock]}"]
    header += ["peak MiB super / alone", "step MiB super / alone"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for space, batch, timing, memory in rows:
        cells = [space, str(batch)]
        for clock in clocks:
            cells += [
                f"{timing.median_ms('supernet', clock):.1f}",
                f"{timing.median_ms('standalone', clock):.1f}",
                f"{timing.ratio(clock):.3f}",
            ]
        for key in ("peak_mib", "step_mib"):
            both = [memory.get(side) for side in SIDES]
            cells.append("n/a" if None in both else f"{both[0][key]:.0f} / {both[1][key]:.0f}")
        print("| " + " | ".join(cells) + " |")


# --- command line --------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", choices=["all", *SETUPS], default="all")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: per space, see SETUPS)")
    parser.add_argument("--archs", type=int, default=3, help="random architectures per space")
    parser.add_argument("--repeats", type=int, default=8, help="timed step pairs per architecture")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per side per architecture")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:N")
    parser.add_argument("--amp", action="store_true", help="mixed precision (float16 + grad scaling on CUDA)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable on a shared machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--throughput-batch", type=int, default=256, help="batch of the CUDA images/s figure")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--network", type=json.loads, default={},
                        help="supernet settings (a JSON object) over the setup's, with one --space")
    parser.add_argument("--memory-probe", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("archs", "repeats", "threads", "throughput_batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch is not None and args.batch < 1 or args.warmup < 0:
        parser.error("--batch must be at least 1 and --warmup at least 0")
    if args.network and (args.space == "all" or not isinstance(args.network, dict)):
        parser.error("--network takes a JSON object of settings and one --space")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    if args.memory_probe:
        print(json.dumps(probe_memory(args.space, args.memory_probe, args, device)))
        return 0

    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, amp {args.amp}")
    spaces = list(SETUPS) if args.space == "all" else [args.space]
    rows = []
    for space in spaces:
        setup = setup_of(space, args)
        print(f"{space}: {setup.note}, batch {args.batch or setup.batch}"
              + (f", network {json.dumps(args.network)}" if args.network else ""), flush=True)
        timing = time_space(space, setup, args, device)
        memory = {} if args.no_memory else {side: measure_memory(space, side, args) for side in SIDES}
        rows.append((space, args.batch or setup.batch, timing, memory))

    print()
    print_table(rows, clocks=(0,) if device.type == "cuda" else (0, 1))
    if device.type == "cuda" and THROUGHPUT_SPACE in spaces:
        rate = throughput(args, device)
        print(f"\nNB101 supernet (stem 128) training, 32x32, batch {args.throughput_batch}: {rate:.0f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
