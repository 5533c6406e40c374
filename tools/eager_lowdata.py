"""Low-data study of "Eager Training of Autoencoders in Parallel" (Bhargava & Surana): do N autoencoders
trained side by side and stopped eagerly give better features than one monolithic autoencoder given the
same training time, when training data are scarce?

The paper's claim is about small training sets, so this varies the training-set size (a seeded,
class-stratified draw; validation for the eager stop is held out of it; the test set stays whole) and,
for every data set, size and seed, runs the ordinary command (printed as it goes, stored in the JSON):
  samplenas retrain --space autoencoder --arch A --data D --train-examples n --ensemble N --patience P ...
which trains the N copies in lockstep, then one model for the copies' total number of steps (equal
training time on one device), and fits a logistic-regression probe on each side's encoder features.
It reads each run's result.json (probe test accuracy, test PSNR, both training wall times) and writes
eager_lowdata.json, a markdown table (mean ± std over seeds) and a PNG of probe accuracy against size.
A run whose result.json exists is not run again, so an interrupted study continues where it stopped.

  python tools/eager_lowdata.py --out runs/eager --lock /tmp/samplenas-heavy.lock   # the figures in docs/results
  python tools/eager_lowdata.py --smoke --out /tmp/eager-smoke                      # seconds: digits
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shlex
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULT = "result.json"
ALL = "all"
SMOKE = {"data": ["digits"], "sizes": [100, ALL], "seeds": [0], "ensemble": 2, "patience": 1, "steps": 4,
         "batch_size": 32}


def size_arg(text: str) -> int | str:
    if text == ALL or (text.isdigit() and int(text) > 0):
        return text if text == ALL else int(text)
    raise argparse.ArgumentTypeError(f"a training-set size is a positive integer or '{ALL}', got {text!r}")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for the runs, eager_lowdata.json and .png")
    p.add_argument("--data", nargs="+", default=["mnist", "fashion-mnist"], help="data sets (default: both MNISTs)")
    p.add_argument("--data-dir", default=str(DATA), help=f"data folder (default {DATA})")
    p.add_argument("--sizes", nargs="+", type=size_arg, default=[500, 1000, 5000, ALL],
                   help="training-set sizes, validation included ('all': the whole training set)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default 0 1 2)")
    p.add_argument("--arch", default="3x3conv2d:8", help="autoencoder architecture of every copy (default "
                                                         "3x3conv2d:8: 8, 16, 32 channels at 28, 14, 7 pixels)")
    p.add_argument("--ensemble", type=int, default=5, help="parallel autoencoders (default 5, the paper's)")
    p.add_argument("--patience", type=int, default=2, help="epochs without validation improvement before a copy "
                                                           "stops (default 2)")
    p.add_argument("--steps", type=int, default=40,
                   help="optimiser steps of each copy at every size, so that only the data vary (default 40: one "
                        "epoch of 5,000 examples, ten of 500); the monolith gets the copies' total")
    p.add_argument("--batch-size", type=int, help="batch size (default: the recipe's 100, the paper's)")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of the drawn examples held out for the eager stop (default 0.2, the paper's)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of each run (default 1)")
    p.add_argument("--lock", help="run each command under `flock LOCK` (share the CPU with other heavy jobs)")
    p.add_argument("--plot", type=Path, help="PNG path (default OUT/eager_lowdata.png)")
    p.add_argument("--smoke", action="store_true",
                   help="seconds: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in SMOKE.items()))
    args = p.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    return args


def retrain_command(args, data: str, size: int | str, seed: int, out: Path) -> list[str]:
    from samplenas.training.data import NEEDS_DATA_DIR

    command = ["samplenas", "retrain", "--space", "autoencoder", "--arch", args.arch, "--data", data]
    command += ["--data-dir", args.data_dir] if data in NEEDS_DATA_DIR else []
    command += [] if size == ALL else ["--train-examples", str(size)]
    command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
    return command + ["--steps", str(args.steps), "--ensemble", str(args.ensemble), "--patience", str(args.patience),
                      "--val-fraction", str(args.val_fraction), "--seed", str(seed), "--threads", str(args.threads),
                      "--quiet", "--overwrite", "--out", str(out)]


def run_command(command: list[str], lock: str | None) -> float:
    """Run `samplenas ...` in this process, holding `lock` as `flock LOCK` would; its wall time in seconds."""
    from samplenas.cli import main

    print("$ " + shlex.join((["flock", lock] if lock else []) + command), flush=True)
    with open(lock, "a") if lock else nullcontext() as held:
        if held:
            fcntl.flock(held, fcntl.LOCK_EX)  # released when the file closes
        started = time.perf_counter()
        if main(command[1:]) != 0:
            sys.exit(f"eager_lowdata: command failed: {shlex.join(command)}")
        return time.perf_counter() - started


def read_run(path: Path) -> dict:
    result = json.loads(path.read_text())
    report = result["ensemble"]
    return {
        "probe_ensemble": report["linear_probe"]["ensemble"]["accuracy"],
        "probe_monolith": report["linear_probe"]["monolithic"]["accuracy"],
        "psnr_ensemble": report["combined_test"]["psnr"],
        "psnr_members": float(np.mean([m["psnr"] for m in report["member_test"]])),
        "psnr_monolith": report["monolithic"]["test"]["psnr"],
        "train_s_ensemble": report["ensemble_train_wall_time_s"],
        "train_s_monolith": report["monolithic"]["train_wall_time_s"],
        "evaluation_s": report["evaluation_wall_time_s"],
        "steps_ensemble": sum(report["member_steps"]), "steps_monolith": report["monolithic"]["steps"],
        "stopped_early": sum(report["stopped_early"]),
    }


def full_size(data: str, data_dir: str) -> int:
    from samplenas.training.data import load_dataset

    loaded = load_dataset(data, data_dir, ("train", "val"))
    return len(loaded.train) + len(loaded.val)


def summarise(rows: list[dict]) -> dict:
    """Mean and sample standard deviation over seeds of every measure, and of the paired probe difference."""
    measures = {key: [row[key] for row in rows] for key in rows[0]}
    measures["probe_difference"] = [row["probe_ensemble"] - row["probe_monolith"] for row in rows]
    return {"n": len(rows), **{key: {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))
                                     if len(values) > 1 else 0.0} for key, values in measures.items()}}


def _cell(stat: dict, scale: float = 1.0, digits: int = 1) -> str:
    return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['std']:.{digits}f}"


def print_table(summary: dict) -> None:
    print("\n| data | training examples | probe acc. ensemble (%) | probe acc. monolith (%) | ensemble − monolith "
          "(pp) | PSNR ensemble (dB) | PSNR copies (dB) | PSNR monolith (dB) | train s ensemble | train s monolith "
          "| copies stopped early |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for data, sizes in summary.items():
        for size, s in sizes.items():
            print(f"| {data} | {size} (n={s['n']}) | {_cell(s['probe_ensemble'], 100)} | "
                  f"{_cell(s['probe_monolith'], 100)} | {_cell(s['probe_difference'], 100)} | "
                  f"{_cell(s['psnr_ensemble'], digits=2)} | {_cell(s['psnr_members'], digits=2)} | "
                  f"{_cell(s['psnr_monolith'], digits=2)} | {_cell(s['train_s_ensemble'], digits=0)} | "
                  f"{_cell(s['train_s_monolith'], digits=0)} | {s['stopped_early']['mean']:.1f} |")


def plot(summary: dict, examples: dict, args, path: Path) -> None:
    from samplenas.plotting import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(summary), figsize=(5 * len(summary), 3.8), squeeze=False)
    for ax, (data, sizes) in zip(axes[0], summary.items()):
        x = [examples[data][size] for size in sizes]
        for key, label in (("probe_ensemble", f"{args.ensemble} eager copies, concatenated"),
                           ("probe_monolith", "monolith, the copies' total steps")):
            ax.errorbar(x, [100 * s[key]["mean"] for s in sizes.values()],
                        yerr=[100 * s[key]["std"] for s in sizes.values()], marker="o", capsize=3, label=label)
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{n:,}" + (f"\n({ALL})" if size == ALL else "") for size, n in zip(sizes, x)])
        ax.minorticks_off()
        ax.set_title(data)
        ax.set_xlabel("training examples (validation included)")
        ax.set_ylabel("linear-probe test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    commands, runs = [], []
    for data in args.data:
        for size in args.sizes:
            for seed in args.seeds:
                run = args.out / data / str(size) / f"seed{seed}"
                command = retrain_command(args, data, size, seed, run)
                commands.append(shlex.join(command))
                seconds = None
                if (run / RESULT).is_file():
                    print(f"done already: {run / RESULT}")
                else:
                    seconds = run_command(command, args.lock)
                runs.append({"data": data, "size": size, "seed": seed, "command_wall_s": seconds,
                             "result": read_run(run / RESULT)})
    summary = {data: {size: summarise([r["result"] for r in runs if (r["data"], r["size"]) == (data, size)])
                      for size in args.sizes} for data in args.data}
    examples = {data: {size: full_size(data, args.data_dir) if size == ALL else size for size in args.sizes}
                for data in args.data}
    report = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "commands": commands, "runs": runs, "summary": summary, "examples": examples,
              "wall_time_s": round(time.perf_counter() - started, 1)}
    (args.out / "eager_lowdata.json").write_text(json.dumps(report, indent=1))
    print_table(summary)
    path = args.plot or args.out / "eager_lowdata.png"
    plot(summary, examples, args, path)
    print(f"\nwall time {report['wall_time_s']:.0f} s; {args.out / 'eager_lowdata.json'}, {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
