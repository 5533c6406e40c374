"""The proxy's ceiling: train NAS-Bench-101 cells standalone at the end-to-end proxy and rank them by the table.

A supernet can at best rank cells as well as training each of them alone, on the same data, network size
and recipe, would. This trains `--cells` distinct random cells (the first of the zero-cost study's cells,
seed 12345) from scratch, each with the supernet's recipe (SGD 0.1 momentum 0.9, weight decay 4e-5,
cosine, label smoothing 0.1, clip 5, batch 64) for `--steps` steps, scores each on the validation split
the supernet is scored on (after BN recalibration, as the supernet's scores are), and reports Kendall tau
/ Spearman rho against the table with bootstrap 95 % intervals. Each cell's result is appended to
OUT/cells.jsonl as it finishes (the run resumes where it stopped); `--workers` processes train cells side
by side, one torch thread each.

`--inherit RUN` starts every cell from a trained supernet's shared weights (`extract`) instead of a fresh
initialisation, with the run's data, network and seed (so its validation split) and, unless `--lr` says
otherwise, its learning rate: does a short fine-tune from the shared weights rank cells better than the
same steps from scratch?

    python tools/ceiling_nb101.py --out runs/ceiling --cells 50 --steps 300 --workers 2
    python tools/ceiling_nb101.py --out runs/ceiling-ft50 --cells 50 --steps 50 --workers 2 --inherit runs/fair-lr025
    python tools/ceiling_nb101.py --smoke --out /tmp/ceiling
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_nb101 import DATA, add_random_cells_argument, draw_random_cells, open_table  # noqa: E402
from zero_cost_nb101 import PROXY_NETWORK, bootstrap, paired_difference, pick_accuracy  # noqa: E402

from samplenas.errors import UserError  # noqa: E402
from samplenas.training.choices import MIN_STANDALONE_IMAGE_SIZE  # noqa: E402
from samplenas.training.train_config import DEFAULT_LR  # noqa: E402

# records written before --lr and --inherit existed trained from scratch at DEFAULT_LR
OLD_RECORD_SETTINGS = {"lr": DEFAULT_LR, "inherit": None}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    add_study_arguments(p, "folder for cells.jsonl and ceiling.json", "random cells trained (default 50)",
                        "another run of this tool on the same cells: report tau minus its tau, paired bootstrap")
    p.add_argument("--steps", type=int, default=300, help="training steps of batch 64 per cell (default 300)")
    p.add_argument("--workers", type=int, default=1, help="cells trained side by side, one thread each")
    p.add_argument("--inherit", type=Path, default=None, metavar="RUN",
                   help="start each cell from this trained supernet run's weights (its data, network and seed)")
    p.add_argument("--lr", type=float, default=None,
                   help=f"peak learning rate, cosine to 0 over --steps (default {DEFAULT_LR}; "
                        "with --inherit the run's)")
    add_image_size_argument(p)
    args = parse_study_args(p, argv, smoke_steps=6)
    if args.steps < 1 or args.workers < 1:
        p.error("--steps and --workers must be >= 1")
    if args.lr is not None and not args.lr > 0:
        p.error(f"--lr must be positive, got {args.lr}")
    if args.inherit is not None and not (args.inherit / "config.json").is_file():
        p.error(f"--inherit {args.inherit}: not a trained run (no config.json)")
    return args


def add_study_arguments(p: argparse.ArgumentParser, out_help: str, cells_help: str | None = None,
                        paired_help: str | None = None) -> None:
    """The options the NB101 training studies share: output, table, data, network, cells, scoring, seed
    (--cells and --paired-against only for the studies of the random cells: `cells_help` given)."""
    p.add_argument("--out", type=Path, required=True, help=out_help)
    p.add_argument("--table", default=str(DATA / "nasbench101" / "nb101_table_repeat0.npz"))
    p.add_argument("--data", default="cifar10-jpeg")
    p.add_argument("--data-dir", default=str(DATA))
    p.add_argument("--network", default=json.dumps(PROXY_NETWORK))
    if cells_help is not None:
        p.add_argument("--cells", type=int, default=50, help=cells_help)
        add_random_cells_argument(p)
    p.add_argument("--eval-examples", type=int, default=2000, help="validation images per cell (default 2000)")
    p.add_argument("--bn-batches", type=int, default=2, help="BN recalibration batches before scoring a cell")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the data order and any draws")
    if cells_help is not None:
        p.add_argument("--paired-against", type=Path, default=None, metavar="OUT", help=paired_help)
    p.add_argument("--smoke", action="store_true", help="seconds: digits, a tiny network, 4 cells")


def add_image_size_argument(p: argparse.ArgumentParser) -> None:
    """--image-size: train and score every cell on images resized to this side (a reduced-resolution proxy)."""
    p.add_argument("--image-size", type=int, default=None, metavar="PIXELS",
                   help="resize the images to this side, for training and scoring (default: native, 32 for CIFAR-10)")


def parse_study_args(p: argparse.ArgumentParser, argv, smoke_steps: int) -> argparse.Namespace:
    """Parse, with --smoke's defaults (`smoke_steps` steps), and check the shared options."""
    if p.parse_known_args(argv)[0].smoke:
        p.set_defaults(data="digits", cells=4, steps=smoke_steps, eval_examples=64, bn_batches=1,
                       network=json.dumps({"stem_channels": 6, "num_stacks": 1, "cells_per_stack": 1}))
    args = p.parse_args(argv)
    if getattr(args, "image_size", None) is not None and args.image_size < MIN_STANDALONE_IMAGE_SIZE:
        p.error(f"--image-size must be >= {MIN_STANDALONE_IMAGE_SIZE}, got {args.image_size}")
    if getattr(args, "cells", 3) < 3:
        p.error(f"--cells must be >= 3, got {args.cells}")
    if getattr(args, "paired_against", None) is not None:
        refuse_runs_without_cells(p, "--paired-against", [args.paired_against])
    return args


def refuse_runs_without_cells(p: argparse.ArgumentParser, flag: str, folders: list[Path]) -> None:
    """A usage error for a folder given as a trained run that holds no cells.jsonl."""
    for folder in folders:
        if not (folder / "cells.jsonl").is_file():
            p.error(f"{flag} {folder}: no cells.jsonl there (a ceiling_nb101.py or finalists_nb101.py --out folder)")


@functools.lru_cache(maxsize=1)
def inherited_supernet(run: str):
    """The run's trained supernet, loaded once per worker process."""
    from samplenas.training.supernet_run import open_run

    return open_run(run).supernet


def train_cell(settings: dict, arch: list[int]) -> dict:
    """One cell trained with the supernet's recipe, from scratch or from the `inherit` run's shared weights;
    its validation accuracy as the supernet scores."""
    from samplenas.supernet.factory import make_supernet, network_settings

    def network(recipe, data):
        if settings["inherit"] is not None:
            return inherited_supernet(settings["inherit"]).extract(tuple(arch))
        return make_supernet("nb101", network_settings("nb101", recipe.network, data.info)).build(tuple(arch))

    return {"arch": list(arch), **fit_and_score(settings, network)}


def fit_and_score(settings: dict, network) -> dict:
    """Train `network(recipe, data)` (called as net(x)) with the supernet's recipe for settings["steps"] steps,
    recalibrate its BN and score it on the validation images the supernet is scored on (no gradient)."""
    net, data, losses, seconds = fit(settings, network)
    started = time.perf_counter()
    accuracy = validation_accuracy(net, data, settings)
    return {"val_accuracy": accuracy, "final_loss": losses[-1], "loss_last_50": float(np.mean(losses[-50:])),
            "seconds": round(seconds + time.perf_counter() - started, 2)}


def fit(settings: dict, network, threads: int = 1, progress: bool = False, checkpoint: Path | None = None,
        every: int = 500):
    """(net, data, training losses, seconds): `network(recipe, data)` trained with the supernet's recipe (SGD,
    cosine, label smoothing, clipping, batch 64) for settings["steps"] steps on `threads` torch threads
    (`samplenas.training.standalone.train_alone`, which also says what `checkpoint` and `every` do), with a
    progress bar when `progress` (one long run; the ceiling's parallel workers train quietly)."""
    import torch

    from samplenas.training.data import load_dataset
    from samplenas.training.standalone import train_alone
    from samplenas.training.tasks import make_task

    torch.set_num_threads(threads)
    config = train_config(settings)
    recipe = config.recipe()
    data = load_dataset(config.data, config.data_dir, ("train", "val"), seed=config.seed, image_size=config.image_size)
    task = make_task(recipe, data.info)
    torch.manual_seed(config.seed)
    net = network(recipe, data).to(memory_format=torch.channels_last)
    losses, seconds = train_alone(net, data.train, task, recipe, config.steps, config.batch_size, config.seed,
                                  channels_last=True, progress=progress, checkpoint=checkpoint, every=every)
    return net, data, losses, seconds


def train_config(settings: dict):
    """The TrainConfig of these settings: the supernet's recipe and batch size (at settings["image_size"], when
    set: absent, the images' own)."""
    from samplenas.training.train_config import TrainConfig

    return TrainConfig(space="nb101", sampler="uniform", data=settings["data"], data_dir=settings["data_dir"],
                       network=settings["network"], seed=settings["seed"], steps=settings["steps"], lr=settings["lr"],
                       image_size=settings.get("image_size"))


def image_size_setting(image_size: int | None) -> dict:
    """The settings entry of --image-size: none at the native size, so records older than the option still match."""
    return {} if image_size is None else {"image_size": image_size}


def validation_accuracy(net, data, settings: dict) -> float:
    """`net`'s accuracy on the first settings["eval_examples"] validation images, after its BN statistics are
    re-estimated on settings["bn_batches"] fixed training batches (as the supernet's scores are)."""
    import torch

    from samplenas.training.supernet_eval import calibration_batches, score_arch, validation_batches
    from samplenas.training.tasks import make_task

    config = train_config(settings)
    device = torch.device("cpu")
    calibration = calibration_batches(data.train, config.batch_size, settings["bn_batches"], config.seed, device, True)
    val = validation_batches(data.val, 256, settings["eval_examples"], device, True)
    return score_arch(net, None, make_task(config.recipe(), data.info), val, calibration)["accuracy"]


def main(argv=None) -> int:
    args = parse_args(argv)
    from samplenas.spaces import SPACES

    started = time.perf_counter()
    space = SPACES["nb101"]()
    cells = draw_random_cells(args.cells, args.random_cells, args.table)
    reference = None if args.paired_against is None else paired_val(args.paired_against, cells)
    args.out.mkdir(parents=True, exist_ok=True)
    table = open_table(args.table, args.out)
    settings = {"data": args.data, "data_dir": args.data_dir, "network": json.loads(args.network),
                "seed": args.seed, "steps": args.steps, "eval_examples": args.eval_examples,
                "bn_batches": args.bn_batches, "lr": args.lr or DEFAULT_LR, "inherit": None,
                **image_size_setting(args.image_size)}
    if args.inherit is not None:
        from samplenas.training.supernet_run import run_config

        run = run_config(args.inherit)
        # the run's seed too: it drew the validation split, which the supernet never trained on
        settings.update(data=run.data, data_dir=run.data_dir, network=run.network, seed=run.seed,
                        lr=args.lr or run.lr, inherit=str(args.inherit.resolve()))
        print(f"starting every cell from {args.inherit}'s shared weights: {run.data}, network {run.network}, "
              f"seed {run.seed}, lr {settings['lr']}", flush=True)
    log = args.out / "cells.jsonl"
    done = finished_records(log, settings, lambda record: tuple(record["arch"]), OLD_RECORD_SETTINGS)
    todo = [arch for arch in cells if tuple(arch) not in done]
    print(f"{len(done)} of {len(cells)} cells already trained; training {len(todo)} "
          f"({args.steps} steps each, {args.workers} at a time)", flush=True)
    with ProcessPoolExecutor(args.workers) as pool, log.open("a") as out:
        for record in pool.map(train_cell, [settings] * len(todo), [list(a) for a in todo]):
            record["settings"] = settings
            out.write(json.dumps(record) + "\n")
            out.flush()
            done[tuple(record["arch"])] = record
            print(f"{len(done)}/{len(cells)}  val {100 * record['val_accuracy']:.2f} %  {record['seconds']} s  "
                  f"{space.to_str(tuple(record['arch']))}", flush=True)
    accuracy = table.values("test_accuracy", table.lookup_archs(cells), repeat=0)
    val = [done[tuple(arch)]["val_accuracy"] for arch in cells]
    report = {"command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
              "settings": settings, "cells": len(cells), "random_cells": args.random_cells,
              **ranking_report(val, accuracy, parameter_counts(settings, cells), args.paired_against, reference),
              "cell_seconds": round(sum(done[tuple(arch)]["seconds"] for arch in cells), 1),  # every invocation's
              "seconds": round(time.perf_counter() - started, 1)}  # this invocation's wall time
    (args.out / "ceiling.json").write_text(json.dumps(report, indent=1))
    how = "standalone training" if args.inherit is None else f"fine-tuned from {args.inherit}"
    print_study(f"{how}, {args.steps} steps", len(cells), report)
    return 0


def ranking_report(val, accuracy, params, paired_against: Path | None, reference) -> dict:
    """How a study's validation accuracies `val` rank the cells by their table `accuracy`: τ / ρ with
    intervals, the mean, the parameter count and its hybrid, and the paired difference to `reference` (the
    accuracies of the run at `paired_against`)."""
    report = {**bootstrap(val, accuracy, np.random.default_rng(2024)), "mean_val_accuracy": float(np.mean(val)),
              "pick_test_accuracy": pick_accuracy(val, accuracy), "best_test_accuracy": float(np.max(accuracy)),
              **with_params(val, params, accuracy)}
    if paired_against is not None:
        report["paired_against"] = {"out": str(paired_against),
                                    **paired_difference(val, reference, accuracy, np.random.default_rng(2025))}
    return report


def print_study(label: str, cells: int, report: dict) -> None:
    """A study's report: τ / ρ with intervals, the parameter count and its hybrid, the paired difference."""
    print(f"{label}: {cells} cells, mean val {100 * report['mean_val_accuracy']:.2f} %, best-scored cell's table "
          f"accuracy {100 * report['pick_test_accuracy']:.2f} % (best {100 * report['best_test_accuracy']:.2f} %), "
          f"Kendall tau {report['kendall_tau']:+.3f} [{report['kendall_tau_ci'][0]:+.2f}, "
          f"{report['kendall_tau_ci'][1]:+.2f}], Spearman rho {report['spearman_rho']:+.3f} "
          f"[{report['spearman_rho_ci'][0]:+.2f}, {report['spearman_rho_ci'][1]:+.2f}]")
    for name, what in (("params", "parameter count alone"), ("with_params", "rank average with it")):
        stat = report[name]
        line = (f"{what}: Kendall tau {stat['kendall_tau']:+.3f} [{stat['kendall_tau_ci'][0]:+.2f}, "
                f"{stat['kendall_tau_ci'][1]:+.2f}], pick {100 * stat['pick_test_accuracy']:.2f} %")
        if "minus_params" in stat:
            line += (f"; tau minus the parameter count's, paired: {stat['minus_params']['tau_difference']:+.3f} "
                     f"[{stat['minus_params']['tau_difference_ci'][0]:+.3f}, "
                     f"{stat['minus_params']['tau_difference_ci'][1]:+.3f}]")
        print(line)
    paired = report.get("paired_against")
    if paired is not None:
        line = (f"tau minus {paired['out']}'s, paired over the same cells: {paired['tau_difference']:+.3f} "
                f"[{paired['tau_difference_ci'][0]:+.3f}, {paired['tau_difference_ci'][1]:+.3f}]")
        if "agreement_tau" in paired:
            line += (f"; the two orders agree at tau {paired['agreement_tau']:+.3f} "
                     f"[{paired['agreement_tau_ci'][0]:+.2f}, {paired['agreement_tau_ci'][1]:+.2f}]")
        print(line)
    print(report["command"])


def parameter_counts(settings: dict, cells) -> list[float]:
    """Each cell's trainable parameters at the settings' network size: the `params` proxy."""
    from samplenas.supernet.factory import make_supernet, network_settings
    from samplenas.training.data import load_dataset

    config = train_config(settings)
    info = load_dataset(config.data, config.data_dir, ("train",), seed=config.seed).info
    supernet = make_supernet("nb101", network_settings("nb101", config.recipe().network, info))
    return [float(supernet.param_count(tuple(arch))) for arch in cells]


def with_params(val, params, accuracy) -> dict:
    """τ / ρ of the parameter count alone, `val`'s τ minus its τ (paired bootstrap: does training beat counting
    parameters on these cells?), and τ / ρ of its rank average with `val` (the hybrid a search uses)."""
    from samplenas.training.zero_cost import combined_ranks

    hybrid = combined_ranks([val, params])
    return {"params": {**bootstrap(params, accuracy, np.random.default_rng(2027)),
                       "minus_params": paired_difference(val, params, accuracy, np.random.default_rng(2029)),
                       "pick_test_accuracy": pick_accuracy(params, accuracy)},
            "with_params": {**bootstrap(hybrid, accuracy, np.random.default_rng(2028)),
                            "pick_test_accuracy": pick_accuracy(hybrid, accuracy)}}


def json_records(log: Path):
    """The records of a JSON-lines log; a line torn by an interrupted write is skipped (its work is done again)."""
    for line in log.read_text().splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def finished_records(log: Path, settings: dict, key, defaults: dict | None = None) -> dict:
    """The records of a JSON-lines log trained with `settings` (a record's missing settings read as `defaults`),
    by `key(record)`: what a resumed run need not train again."""
    if not log.exists():
        return {}
    return {key(record): record for record in json_records(log)
            if {**(defaults or {}), **record.get("settings", {})} == settings}


def trained_accuracies(folder: Path, key, tool: str) -> dict:
    """The standalone validation accuracies a run of this tool (or of finalists_nb101) trained, by `key(arch)`,
    from its cells.jsonl checked record by record and to be one recipe (a record older than --lr / --inherit read
    as OLD_RECORD_SETTINGS): {"cells": {key: accuracy}, "settings": the first record's}. A torn last line (an
    interrupted write) is skipped: its cell counts as not trained."""
    log = folder / "cells.jsonl"
    lines = log.read_text().splitlines()
    cells, recipes, settings = {}, [], None
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                continue
            record = None
        if not isinstance(record, dict) or not {"arch", "val_accuracy", "settings"} <= record.keys():
            sys.exit(f"{tool}: {log} line {number}: not a trained cell's record")
        try:
            cells[key(record["arch"])] = float(record["val_accuracy"])
        except (TypeError, ValueError, UserError) as err:
            sys.exit(f"{tool}: {log} line {number}: not a trained cell's record ({err})")
        recipe = {**OLD_RECORD_SETTINGS, **record["settings"]} if isinstance(record["settings"], dict) else None
        if not recipes:
            settings = record["settings"]
        if recipe not in recipes:
            recipes.append(recipe)
    if len(recipes) > 1:
        sys.exit(f"{tool}: {log} mixes {len(recipes)} recipes; give a run of one")
    return {"cells": cells, "settings": settings}


def paired_val(out: Path, cells: list, tool: str = "ceiling_nb101") -> list[float]:
    """Validation accuracies of `cells` in another run of this tool (one recipe, every cell trained)."""
    trained = trained_accuracies(out, tuple, tool)["cells"]
    missing = [arch for arch in cells if tuple(arch) not in trained]
    if missing:
        sys.exit(f"{tool}: --paired-against {out} lacks {len(missing)} of these {len(cells)} cells")
    return [trained[tuple(arch)] for arch in cells]


if __name__ == "__main__":
    sys.exit(main())
