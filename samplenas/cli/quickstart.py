"""`samplenas quickstart`: the main job end to end on the embedded digits, in a few CPU minutes.

Train a small NB101 supernet with the VAE sampler mixed into uniform sampling (VAENAS Alg. 2),
search it with VAE-seeded evolution (its ten best then trained alone for a few hundred steps, the
best of them the winner: search's default on NB101), retrain the winner from scratch (with the
supernet's SGD settings: NB101's own RMSProp recipe is tuned for 108 CIFAR-10 epochs, not a few on
digits), then print one table.
Each stage is the ordinary command, so the printed command lines can be rerun one by one.
OUT/quickstart.json marks the folder as a quick start run (written before the first stage, completed
with the table's figures after the last), so that `--overwrite` replaces a quick start run and nothing else.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from samplenas.cli.options import output_folder
from samplenas.cli.threads import add_threads_option
from samplenas.errors import UserError

SPACE = "nb101"
MARKER = "quickstart.json"
MARKER_FORMAT = "samplenas-quickstart-1"


def register(subparsers) -> None:
    p = subparsers.add_parser("quickstart", help="train + search + retrain on the embedded digits (a few minutes)")
    p.add_argument("--out", default=Path("runs/quickstart"), type=output_folder,
                   help="run folder (default: runs/quickstart)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the quick start run in --out (a folder holding anything else is refused)")
    p.add_argument("--steps", type=int, default=300, help="supernet training steps (default: 300)")
    p.add_argument("--epochs", type=int, default=20, help="retraining epochs of the winner (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of every stage: sampling, data order, weights "
                   "(default: 0)")
    add_threads_option(p)
    p.set_defaults(func=run)


def stage_commands(args) -> list[list[str]]:
    from samplenas.training.train_config import SMALL_NETWORKS

    out = Path(args.out)
    threads = ["--threads", str(args.threads)] if getattr(args, "threads", None) else []
    replace = ["--overwrite"] if getattr(args, "overwrite", False) else []  # each stage replaces its own files
    stages = [
        ["train", "--space", SPACE, "--sampler", "vae", "--epsilon-ramp", "0.5",
         "--sampler-options", json.dumps({"iters": 50}), "--steps", str(args.steps),
         "--eval-every", "50", "--seed", str(args.seed), "--out", str(out), *replace],
        ["search", "--run", str(out), "--population", "12", "--generations", "3", "--seed", str(args.seed)],
        ["retrain", "--space", SPACE, "--from", str(out / "top.json"), "--network", json.dumps(SMALL_NETWORKS[SPACE]),
         "--epochs", str(args.epochs), "--batch-size", "64",
         "--optimizer", "sgd", "--lr", "0.1", "--weight-decay", "4e-5", "--label-smoothing", "0.1",
         "--seed", str(args.seed), "--out", str(out / "retrain"), *replace],
    ]
    return [stage + threads for stage in stages]


def check_out(out: Path, overwrite: bool) -> None:
    """UserError unless `out` can take a quick start run: a new or empty folder, or with `overwrite` a
    folder that holds a quick start run (its MARKER). Nothing is created or removed."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    if overwrite:
        if any(out.iterdir()) and not is_quickstart_run(out):
            raise UserError(f"{out} holds no quick start run (no {MARKER}); --overwrite replaces only a quick "
                            "start run: choose another --out")
        return
    held = [name for name in (MARKER, "checkpoint.pt") if (out / name).exists()]
    if held:
        raise UserError(f"{out} already holds a run ({held[0]}); pass --overwrite to replace a quick start run, "
                        "or choose another --out")


def is_quickstart_run(out: Path) -> bool:
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("format") == MARKER_FORMAT


def run(args) -> int:
    from samplenas.cli import main
    from samplenas.training.checkpoint import save_json
    from samplenas.training.report import plot_run

    out = Path(args.out)
    check_out(out, args.overwrite)
    created = not out.exists()
    settings = {name: getattr(args, name) for name in ("steps", "epochs", "seed", "threads")}
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / MARKER, {"format": MARKER_FORMAT, "finished": False, "settings": settings})
    for command in stage_commands(args):
        print(f"\n$ samplenas {shlex.join(command)}", flush=True)
        code = main(command)
        if code:
            if not (out / "checkpoint.pt").exists():  # the first stage wrote nothing: leave nothing either
                (out / MARKER).unlink(missing_ok=True)
                if created and not any(out.iterdir()):
                    out.rmdir()
            return code
    plot = plot_run(out, out / "supernet_scores.png")
    summary = json.loads((out / "summary.json").read_text())
    top = json.loads((out / "top.json").read_text())
    result = json.loads((out / "retrain" / "result.json").read_text())
    rows = table(summary, top, result, out / "retrain", plot)
    save_json(out / MARKER, {"format": MARKER_FORMAT, "finished": True, "settings": settings,
                             "winner": top["top"][0]["arch"], "test_accuracy": result["test"]["accuracy"],
                             "params": result["params"], "macs": result["macs"]})
    print("\nquick start results")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return 0


def table(summary: dict, top: dict, result: dict, retrain_dir: Path, plot: Path) -> list[tuple[str, str]]:
    """The (name, text) rows of the results table."""
    best = top["top"][0]
    rows = [
        ("supernet", f"{summary['steps']} steps, {summary['steps_per_second']:.1f} steps/s, "
                     f"last round mean/best val score {summary['last_evaluation']['mean']:.3f}"
                     f"/{summary['last_evaluation']['max']:.3f}"),
        ("search", f"{top['evaluated']} architectures scored by {top['scorer']}" + rescored(top)
                   + f", winner's score {best['score']:.3f}"
                   + (f" (supernet val accuracy {best['metrics']['supernet_accuracy']:.3f})"
                      if "supernet_accuracy" in best["metrics"] else "")),
        ("winner", best.get("described", best["arch"])),
        ("retrained", f"test accuracy {100 * result['test']['accuracy']:.2f} %, {result['params']:,} params, "
                      f"{result['macs']:,} MACs, {result['epochs']} epochs in {result['wall_time_s']:.0f} s"),
        ("tensorboard", f"{summary['tensorboard']}  and  {retrain_dir / 'tensorboard'}"),
        ("plot", str(plot)),
    ]
    return rows


def rescored(top: dict) -> str:
    """The search's second scoring of its best few, in words ("" when there was none)."""
    from samplenas.training.search import describe_rescoring

    if "rescored" not in top:
        return ""
    return f"; the best {top['rescored']['top']} scored again, {describe_rescoring(top['rescored'], top['scorer'])}"
