"""`samplenas train`: train a weight-sharing supernet with a sampler in the loop.

Settings come from (later wins): the defaults of `TrainConfig`, a JSON `--config` file, flags.
With `--resume` the run's saved config.json is the base, and the checkpoint must match it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from samplenas.errors import UserError
from samplenas.training.train_config import MODES, TrainConfig, read_json_object

HELP = {
    "space": "search space (see `samplenas spaces`)",
    "sampler": "uniform, fair, gumbel, multinomial, vae, evolution or mixture",
    "data": "data set: digits (embedded, default), mnist, fashion-mnist, cifar10, cifar10-jpeg, stl10",
    "data_dir": "folder holding the data set (not needed for digits)",
    "mode": f"{' or '.join(MODES)} (VAENAS Algorithm 2 or 3)",
    "steps": "optimiser steps of the shared weights",
    "lr": "initial learning rate (SGD with momentum)",
    "schedule": "learning-rate decay to 0: cosine or linear",
    "task": "classification; reconstruction or denoising for the autoencoder space",
    "noise_std": "denoising noise standard deviation (default sqrt(1/3))",
    "epsilon_inc": "wrap the sampler in (1-eps)*uniform + eps*sampler, eps += this per step",
    "eval_every": "steps between evaluation rounds whose scores feed the sampler (0 = none)",
    "eval_archs": "architectures scored per evaluation round",
    "eval_examples": "validation examples per scored architecture",
    "bn_batches": "training batches for BN recalibration before scoring (0 = off)",
    "image_size": "resize images to this side",
    "limit": "use at most this many examples per split (quick runs)",
    "checkpoint_every": "steps between checkpoints (also written at the end)",
    "device": "cpu or cuda (default: a GPU when visible)",
}
JSON_FIELDS = {"network": "JSON object of supernet settings, e.g. '{\"C\": 16}'",
               "sampler_options": "JSON object of sampler options, e.g. '{\"lr\": 0.01}'"}
SWITCHES = {"download": ("--download", "fetch the data set if missing (needs internet)"),
            "amp": ("--no-amp", "no bf16 mixed precision on GPU"),
            "augment": ("--augment", "random crop and flip of RGB training images")}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _value_type(field: dataclasses.Field):
    default = field.default
    if isinstance(default, bool):
        return None
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return type(default)
    return {"epsilon_inc": float, "image_size": int, "limit": int}.get(field.name, str)


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a supernet with a sampler in the loop (VAENAS Alg. 2/3)")
    p.add_argument("--out", required=True, type=Path, help="run folder (checkpoint, TensorBoard, summary.json)")
    p.add_argument("--config", help="JSON object of training settings (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt (bit-exact on CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    for field in dataclasses.fields(TrainConfig):
        if field.name in JSON_FIELDS:
            p.add_argument(_flag(field.name), help=JSON_FIELDS[field.name])
        elif field.name in SWITCHES:
            flag, text = SWITCHES[field.name]
            p.add_argument(flag, dest=field.name, action="store_const", const=flag != "--no-amp", help=text)
        else:
            default = field.default if field.default is not dataclasses.MISSING else None
            text = HELP.get(field.name, field.name.replace("_", " "))
            p.add_argument(_flag(field.name), type=_value_type(field), metavar=field.name.upper(),
                           help=f"{text} (default: {default})" if default is not None else text)
    p.set_defaults(func=run)


def settings_from_args(args) -> dict:
    """Saved config (on --resume) < --config file < flags the user gave."""
    values: dict = {}
    if args.resume:
        values.update(read_json_object(args.out / "config.json", "run config"))
    if args.config:
        values.update(read_json_object(args.config))
    for field in dataclasses.fields(TrainConfig):
        given = getattr(args, field.name, None)
        if given is None:
            continue
        if field.name in JSON_FIELDS:
            try:
                given = json.loads(given)
            except json.JSONDecodeError as err:
                raise UserError(f"{_flag(field.name)}: not valid JSON ({err})") from None
            if not isinstance(given, dict):
                raise UserError(f"{_flag(field.name)}: expected a JSON object")
        values[field.name] = given
    return values


def run(args) -> int:
    from samplenas.training.supernet_train import SupernetTrainer

    config = TrainConfig.from_dict(settings_from_args(args))
    summary = SupernetTrainer(config, progress=not args.quiet).train(args.out, resume=args.resume)
    last = summary["last_evaluation"]
    print(f"trained {summary['space']} supernet with {summary['sampler']} for {summary['steps']} steps "
          f"({summary['steps_per_second']:.2f} steps/s on {summary['device']})")
    if last:
        print(f"last evaluation (step {last['step']}): mean score {last['mean']:.4f}, best {last['max']:.4f} "
              f"({last['best_arch']})")
    print(f"checkpoint:  {summary['checkpoint']}")
    print(f"tensorboard: {summary['tensorboard']}")
    print(f"next: samplenas search --run {args.out}")
    return 0
