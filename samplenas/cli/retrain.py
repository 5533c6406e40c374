"""`samplenas retrain`: train an architecture from scratch with its space's published recipe.

Run it as is on one device, or under `torchrun --nproc_per_node=G` for several GPUs/nodes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from samplenas.cli.options import add_renamed_workers, datasets_text
from samplenas.cli.settings_line import settings_line
from samplenas.cli.threads import add_threads_option
from samplenas.errors import UserError
from samplenas.spaces import SPACES
from samplenas.strict_json import dumps
from samplenas.training import typed_config
from samplenas.training.recipes import OPTIMIZERS, SCHEDULES, TASKS, read_config, resolve_recipe

# recipe flags: (flag, type, help); each overrides the config file, which overrides the recipe
RECIPE_FLAGS = (
    ("epochs", int, "training epochs (default: the space's published recipe, as for every recipe flag)"),
    ("batch_size", int, "global batch size (split over processes)"),
    ("optimizer", str, f"optimiser: {', '.join(OPTIMIZERS)} (rmsprop_tf: RMSProp as TensorFlow 1, NB101's)"),
    ("lr", float, "initial learning rate"),
    ("momentum", float, "momentum of SGD and RMSProp"),
    ("weight_decay", float, "L2 weight decay"),
    ("schedule", str, f"learning-rate decay to 0: {', '.join(SCHEDULES)}"),
    ("label_smoothing", float, "label smoothing of the classification loss"),
    ("cutout", int, "cutout square side (0 = off)"),
    ("drop_path", float, "final drop-path probability"),
    ("auxiliary_weight", float, "auxiliary head loss weight"),
    ("grad_clip", float, "gradient norm clip (0 = off)"),
    ("task", str, f"what the network learns: {', '.join(TASKS)} (the last two for the autoencoder space)"),
    ("noise_std", float, "denoising noise standard deviation"),
)


def register(subparsers) -> None:
    p = subparsers.add_parser("retrain", help="train an architecture from scratch (one or many GPUs) and test it")
    p.add_argument("--space", choices=SPACES.names(), help="search space (read from --from when omitted)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", help="architecture: the space's readable form or comma-separated choices")
    which.add_argument("--from", dest="from_top", metavar="TOP_JSON",
                       help="a search's top.json, a pareto.json front (with --point) or an evolve, pbt or dnc "
                            "result.json: retrain its best on the run's data and network settings (flags override)")
    p.add_argument("--point", type=int, metavar="K",
                   help="with --from: retrain entry K (0 = first) instead of the first: a point of a pareto.json "
                        "front (cheapest first) or the K-th best of a top.json")
    p.add_argument("--data", help=f"data set: {datasets_text()} (default: the --from run's data set, "
                                  "else digits)")
    p.add_argument("--data-dir", help="folder holding the data set (default: the --from run's, with its data set)")
    p.add_argument("--out", required=True, type=Path, help="output folder (checkpoint, TensorBoard, result.json)")
    p.add_argument("--config", help="JSON file of recipe fields (overrides the published recipe)")
    for name, kind, text in RECIPE_FLAGS:
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=text)
    p.add_argument("--network", help='JSON object of supernet settings, e.g. \'{"C": 16, "layers": 8}\'')
    p.add_argument("--no-augment", action="store_true", help="no crop/flip augmentation of RGB images")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the data split and order (default: 0)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="where to compute (default: a GPU when visible)")
    p.add_argument("--no-amp", action="store_true", help="no bf16 mixed precision on GPU")
    p.add_argument("--no-channels-last", action="store_true",
                   help="keep activations N,C,H,W (channels-last is faster here)")
    p.add_argument("--no-sync-bn", action="store_true", help="per-process batch norm when distributed")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt (bit-exact)")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in OUT")
    p.add_argument("--lower-lr", action="store_true",
                   help="with --resume: continue a diverged run with the smaller --lr given")
    p.add_argument("--stop-after", type=int, metavar="STEPS", help="stop (checkpointed) after this many steps")
    p.add_argument("--steps", type=int, help="optimiser steps of each network instead of whole --epochs (the "
                                             "last epoch may end part-way)")
    p.add_argument("--checkpoint-steps", type=int, default=0, metavar="K", help="also checkpoint every K steps")
    p.add_argument("--limit", type=int, help="use at most this many examples per split (quick runs)")
    p.add_argument("--train-examples", type=int, metavar="N",
                   help="train on a seeded class-stratified draw of N training examples (validation is held out "
                        "of them; the test set stays whole: low-data studies)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the training set held out")
    p.add_argument("--loader-workers", type=int, default=0, metavar="N",
                   help="data loader processes for a user Dataset (built-in data sets are in memory and need none; "
                        "resume stays exact with any number)")
    add_renamed_workers(p)
    p.add_argument("--ensemble", type=int, default=1, metavar="N",
                   help="train N copies in lockstep and compare them with one model of the same budget")
    p.add_argument("--patience", type=int, default=0,
                   help="stop an ensemble copy after this many epochs without validation improvement")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=run)


def _overrides(args) -> list[dict]:
    layers = [read_config(args.config)] if args.config else []
    flags = {name: getattr(args, name) for name, _, _ in RECIPE_FLAGS}
    if args.network:
        flags["network"] = typed_config.loads_object(args.network, "--network")
    if args.no_augment:
        flags["augment"] = False
    return layers + [flags]


def command_line(args) -> list[str]:
    """The command that reproduces this run (given flags only), for result.json."""
    words = ["samplenas", "retrain"]
    for name, value in vars(args).items():
        if name in ("command", "func") or value is None or value is False:
            continue
        words.append(f"--{name.replace('_', '-')}" if name != "from_top" else "--from")
        if value is not True:
            words.append(str(value))
    return words


def _data_choice(args, top) -> tuple[str, str | None]:
    """(data set, data folder): the flags', else the --from run's (its folder only with its data set), else digits."""
    recorded = top.data if top is not None else None
    data = args.data or recorded or "digits"
    data_dir = args.data_dir or (top.data_dir if recorded is not None and data == recorded else None)
    return data, data_dir


def run(args) -> int:
    from samplenas.training.artifacts import read_top
    from samplenas.training.retrain import retrain
    from samplenas.training.retrainer import RetrainJob

    if args.lower_lr and not (args.resume and args.lr is not None):
        raise UserError("--lower-lr goes with --resume and a new --lr")
    if args.point is not None and not args.from_top:
        raise UserError("--point goes with --from (which entry of its list to retrain)")
    top = read_top(args.from_top, args.point or 0) if args.from_top else None
    space, arch = (args.space, args.arch) if top is None else (top.for_space(args.space), top.best)
    if not space:
        raise UserError("--space is required with --arch")
    # the run's recorded settings (its data, network and task; DnC's stage-3 hyper-parameters) sit under the flags
    recipe = resolve_recipe(space, *([top.recipe] if top else []), *_overrides(args))
    data, data_dir = _data_choice(args, top)
    main_process = os.environ.get("RANK", "0") == "0"
    if top is not None and main_process:
        source = top.settings_from or f"the defaults ({top.path} records no data set)"
        given = [flag for flag, value in (("--data", args.data), ("--data-dir", args.data_dir),
                                          ("--network", args.network)) if value is not None]
        print(settings_line("retrain", data, data_dir, recipe.network, source, given), flush=True)
    if not args.quiet and main_process:
        print(f"retraining {space} on {data} with the {space} recipe: {recipe.epochs} epochs, batch "
              f"{recipe.batch_size}, {recipe.optimizer} lr {recipe.lr:g}, network {json.dumps(recipe.network)}")
    job = RetrainJob(
        space=space, arch=arch, data=data, out=args.out, recipe=recipe,
        data_dir=data_dir, seed=args.seed, device=args.device, amp=not args.no_amp,
        channels_last=not args.no_channels_last, sync_bn=not args.no_sync_bn, resume=args.resume,
        stop_after=args.stop_after, checkpoint_steps=args.checkpoint_steps, limit=args.limit,
        train_examples=args.train_examples, val_fraction=args.val_fraction,
        loader_workers=args.loader_workers,
        ensemble=args.ensemble, patience=args.patience, step_budget=args.steps,
        overwrite=args.overwrite, lower_lr=args.lower_lr,
        progress=not args.quiet, command=command_line(args),
    )
    result = retrain(job)
    if result is None:
        print(f"stopped after --stop-after steps; continue with --resume (checkpoint in {args.out})")
        return 0
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    print(dumps({"test": result["test"], "params": result["params"], "macs": result["macs"],
                      "wall_time_s": result["wall_time_s"], "result": str(args.out / "result.json")}))
    if "ensemble" in result:
        print(dumps({"ensemble": result["ensemble"]}))
    return 0

