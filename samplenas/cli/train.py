"""`samplenas train`: train a weight-sharing supernet with a sampler in the loop.

Settings come from (later wins): the defaults of `TrainConfig`, a JSON `--config` file, flags.
With `--resume` the run's saved config.json is the base, and the checkpoint must match it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from samplenas.cli.options import add_renamed_workers, datasets_text, samplers_text, spaces_text
from samplenas.cli.threads import add_threads_option
from samplenas.errors import UserError
from samplenas.training import typed_config
from samplenas.training.recipes import SCHEDULES
from samplenas.training.train_config import (
    DEFAULT_LR,
    MODES,
    NEW_RUN_NETWORK,
    SPACE_LR,
    TrainConfig,
    read_json_object,
    with_new_run_network,
)

# Help of each TrainConfig field; space, sampler and data are added in `register` from the registries.
HELP = {
    "data_dir": "folder holding the data set (not needed for digits)",
    "mode": f"{' or '.join(MODES)}: sampled paths train the weights and evaluation rounds feed the sampler "
            "(VAENAS Algorithm 2), or the sampler's logits learn by gradient on validation batches (Algorithm 3)",
    "seed": "seed of the weights, the data order and the sampler",
    "steps": "optimiser steps of the shared weights (with --members: of all the members together)",
    "members": "train an ensemble of this many supernets alike but for their seed (10 x seed + i), each for its "
               "share of --steps, in OUT/supernets/<i>; search and rank score them as one. On NB101 four "
               "rank and pick better than one at the same cost (at most 10)",
    "batch_size": "training examples per step",
    "lr": "initial learning rate (SGD with momentum; default: "
          + ", ".join(f"{lr:g} for {space}" for space, lr in SPACE_LR.items())
          + f", where it ranks and picks better, {DEFAULT_LR:g} elsewhere)",
    "momentum": "SGD momentum",
    "weight_decay": "L2 weight decay of the shared weights",
    "schedule": f"learning-rate decay to 0 over the steps: {', '.join(SCHEDULES)}",
    "label_smoothing": "label smoothing of the classification loss",
    "grad_clip": "clip the gradient to this norm (0 = off)",
    "task": "classification; reconstruction or denoising for the autoencoder space",
    "noise_std": "denoising noise standard deviation (default sqrt(1/3))",
    "epsilon_inc": "wrap the sampler in (1-eps)*uniform + eps*sampler, eps += this per step",
    "epsilon_ramp": "wrap the sampler in the same mixture, eps rising evenly to its maximum (1) over this share "
                    "of the steps (0.5: all draws from the sampler after half the run; instead of --epsilon-inc)",
    "eval_every": "steps between evaluation rounds whose scores feed the sampler (0 = none)",
    "eval_archs": "architectures scored per evaluation round",
    "eval_examples": "validation examples per scored architecture",
    "eval_batch_size": "batch size when scoring architectures",
    "arch_lr": "learning rate of the sampler's logits in gradient mode",
    "val_fraction": "share of the training set held out for scoring architectures",
    "loader_workers": "data loader processes for a user Dataset (built-in data sets are in memory and need none; "
                      "resume stays exact either way)",
    "log_every": "steps between TensorBoard points",
    "bn_batches": "training batches for BN recalibration before scoring (0 = off)",
    "image_size": "resize images to this side",
    "limit": "use at most this many examples per split (quick runs)",
    "checkpoint_every": "steps between checkpoints (also written at the end)",
    "device": "cpu or cuda (default: a GPU when visible)",
    "max_params": "train only architectures with at most this many parameters (the sampler proposes no other)",
    "max_macs": "train only architectures with at most this many multiply-adds",
    "max_latency_ms": "train only architectures predicted at most this fast by --latency-table",
    "latency_table": "latency lookup table of the target device (`samplenas latency`), for --max-latency-ms",
    "rank_archs": "under torchrun: same (every process trains the step's path on its shard of the batch) or "
                  "different (one path per process; a FairNAS group spread over the processes)",
}
# Two ways to state one epsilon schedule of the mixture: a flag giving one drops the other from the saved config or
# --config file, so a resumed run is compared on the schedule the user asked for.
MIXTURE_SCHEDULES = ("epsilon_inc", "epsilon_ramp")
JSON_FIELDS = {"network": "JSON object of supernet settings, e.g. '{\"C\": 16}'; a new run also gets "
                          + "; ".join(f"{space}: {json.dumps(settings)}" for space, settings in NEW_RUN_NETWORK.items())
                          + " unless it names them (they rank and pick better)",
               "sampler_options": "JSON object of sampler options, e.g. '{\"lr\": 0.01}'"}
SWITCHES = {"download": ("--download", "fetch the data set if missing (needs internet)"),
            "amp": ("--no-amp", "no bf16 mixed precision on GPU"),
            "channels_last": ("--no-channels-last", "keep activations N,C,H,W (channels-last is faster here)"),
            "augment": ("--augment", "random crop and flip of RGB training images"),
            "sandwich": ("--sandwich", "each step also trains the largest and smallest architecture (by parameters, "
                         "of 512 uniform draws) on the same batch: BigNAS's sandwich rule"),
            "inplace_distill": ("--inplace-distill", "with --sandwich: the largest path learns from the labels, the "
                                "others from its predictions (BigNAS's in-place distillation; classification)"),
            "keep_checkpoints": ("--keep-checkpoints", "also keep every checkpoint as OUT/checkpoints/stepNNNNNNN.pt "
                                 "(to study the supernet over training)")}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _value_type(field: dataclasses.Field):
    default = field.default
    if isinstance(default, bool):
        return None
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return type(default)
    return {"lr": float, "epsilon_inc": float, "epsilon_ramp": float, "image_size": int, "limit": int,
            "max_params": int, "max_macs": int, "max_latency_ms": float}.get(field.name, str)


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a supernet with a sampler in the loop (VAENAS Alg. 2/3)")
    p.add_argument("--out", required=True, type=Path, help="run folder (checkpoint, TensorBoard, summary.json)")
    p.add_argument("--config", help="JSON object of training settings (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt (bit-exact on CPU)")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    add_renamed_workers(p)
    texts = {**HELP, "space": f"required (here or in --config): search space, one of {spaces_text()}",
             "sampler": f"required (here or in --config): sampler choosing the path of each step, one of "
                        f"{samplers_text()}",
             "data": f"data set: {datasets_text()}"}
    for field in dataclasses.fields(TrainConfig):
        if field.name in JSON_FIELDS:
            p.add_argument(_flag(field.name), help=JSON_FIELDS[field.name])
        elif field.name in SWITCHES:
            flag, text = SWITCHES[field.name]
            p.add_argument(flag, dest=field.name, action="store_const", const=not flag.startswith("--no-"),
                           help=text)
        else:
            default = field.default if field.default is not dataclasses.MISSING else None
            text = texts.get(field.name, field.name.replace("_", " "))
            p.add_argument(_flag(field.name), type=_value_type(field), metavar=field.name.upper(),
                           help=f"{text} (default: {default})" if default is not None else text)
    p.set_defaults(func=run)


def settings_from_args(args) -> dict:
    """Saved config (on --resume) < --config file < flags the user gave; a new run gets NEW_RUN_NETWORK
    under its network settings."""
    values: dict = {}
    if args.resume:
        if not (args.out / "config.json").is_file():
            raise UserError(f"{args.out} holds no run to resume (no config.json); start it without --resume")
        values.update(read_json_object(args.out / "config.json", "run config"))
    if args.config:
        values.update(read_json_object(args.config))
    for field in dataclasses.fields(TrainConfig):
        given = getattr(args, field.name, None)
        if given is None:
            continue
        if field.name in JSON_FIELDS:
            given = typed_config.loads_object(given, _flag(field.name))
        if field.name in MIXTURE_SCHEDULES:  # a flag's schedule replaces the other one of a lower source
            values.update({other: None for other in MIXTURE_SCHEDULES if getattr(args, other, None) is None})
        values[field.name] = given
    return values if args.resume else with_new_run_network(values)


def run(args) -> int:
    from samplenas.training.distributed import close_world, init_world
    from samplenas.training.pareto_search import FIGURE, PARETO
    from samplenas.training.rank import RANK
    from samplenas.training.rundir import RunDir, check_run_dir, remove_run
    from samplenas.training.scorer_fit import SCORER_FIT
    from samplenas.training.search import TOP
    from samplenas.training.supernet_members import SUPERNETS, member_folder, train_members
    from samplenas.training.supernet_train import (
        CHECKPOINT,
        CONFIG,
        KEPT_CHECKPOINTS,
        SUMMARY,
        TENSORBOARD,
        SupernetTrainer,
    )

    check_run_dir(args.out, (CHECKPOINT, SUPERNETS), resume=args.resume, overwrite=args.overwrite)
    config = TrainConfig.from_dict(settings_from_args(args)).check()
    world = init_world(config.device.split(":")[0] if config.device else None)  # torchrun: join the processes
    try:
        # every setting checked (and the data read) before OUT is touched; an ensemble's first member stands for all
        trainer = SupernetTrainer(config.member(0), progress=not args.quiet, world=world)
        first_member = str(member_folder("", 0) / CHECKPOINT)  # relative to OUT
        with RunDir(args.out, keep=(CHECKPOINT, first_member), writer=world.is_main):  # rank 0 alone locks, writes
            resume = args.resume and any((args.out / name).exists() for name in (CHECKPOINT, first_member))
            if args.resume and not resume and world.is_main:
                print(f"{args.out} has no checkpoint yet (stopped before the first one): starting it from step 0",
                      file=sys.stderr)
            if args.overwrite and world.is_main:
                remove_run(args.out, (CHECKPOINT, CONFIG, SUMMARY, TOP, RANK, PARETO, FIGURE, SCORER_FIT),
                           (TENSORBOARD, KEPT_CHECKPOINTS, SUPERNETS))
            if config.members > 1:
                summary = train_members(config, args.out, resume, progress=not args.quiet, world=world,
                                        first=trainer)
            else:
                summary = trainer.train(args.out, resume=resume)
    finally:
        close_world(world)
    if not world.is_main:
        return 0
    if config.members > 1:
        _report_members(summary)
    else:
        _report_supernet(summary)
    print(f"tensorboard: {summary['tensorboard']}")
    print(f"next: samplenas search --run {args.out}")
    return 0


def _report_supernet(summary: dict) -> None:
    last = summary["last_evaluation"]
    print(f"trained {summary['space']} supernet with {summary['sampler']} for {summary['steps']} steps "
          f"({summary['steps_per_second']:.2f} steps/s on {summary['device']})")
    if last:
        print(f"last evaluation (step {last['step']}): mean score {last['mean']:.4f}, best {last['max']:.4f} "
              f"({last['best_arch']})")
    if summary.get("derived_arch"):
        print(f"derived (argmax of the logits): {summary['derived_arch']}")
    print(f"checkpoint:  {summary['checkpoint']}")


def _report_members(summary: dict) -> None:
    seeds = summary["seeds"]
    print(f"trained {summary['members']} {summary['space']} supernets with {summary['sampler']}, "
          f"{summary['steps_per_member']} steps each (seeds {seeds[0]}-{seeds[-1]}; "
          f"{summary['steps_per_second']:.2f} steps/s on {summary['device']}), scored as one by search and rank")
    for run, last in zip(summary["runs"], summary["last_evaluations"]):
        scored = f": last evaluation's mean score {last['mean']:.4f}" if last else ""
        print(f"member:      {run}{scored}")
