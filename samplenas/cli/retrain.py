"""`samplenas retrain`: train an architecture from scratch with its space's published recipe.

Run it as is on one device, or under `torchrun --nproc_per_node=G` for several GPUs/nodes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from samplenas.errors import UserError
from samplenas.spaces import SPACES
from samplenas.training.recipes import OPTIMIZERS, SCHEDULES, TASKS, read_config, resolve_recipe

# recipe flags: (flag, type, help); each overrides the config file, which overrides the recipe
RECIPE_FLAGS = (
    ("epochs", int, "training epochs"),
    ("batch_size", int, "global batch size (split over processes)"),
    ("optimizer", str, f"one of {', '.join(OPTIMIZERS)}"),
    ("lr", float, "initial learning rate"),
    ("momentum", float, "momentum"),
    ("weight_decay", float, "weight decay"),
    ("schedule", str, f"learning-rate decay to 0: {', '.join(SCHEDULES)}"),
    ("label_smoothing", float, "label smoothing"),
    ("cutout", int, "cutout square side (0 = off)"),
    ("drop_path", float, "final drop-path probability"),
    ("auxiliary_weight", float, "auxiliary head loss weight"),
    ("grad_clip", float, "gradient norm clip (0 = off)"),
    ("task", str, f"one of {', '.join(TASKS)}"),
    ("noise_std", float, "denoising noise standard deviation"),
)


def register(subparsers) -> None:
    p = subparsers.add_parser("retrain", help="train an architecture from scratch (one or many GPUs) and test it")
    p.add_argument("--space", choices=SPACES.names(), help="search space (read from --from when omitted)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", help="architecture: the space's readable form or comma-separated choices")
    which.add_argument("--from", dest="from_top", metavar="TOP_JSON", help="a search's top.json: retrain its best")
    p.add_argument("--data", default="digits", help="data set name (default: the embedded digits)")
    p.add_argument("--data-dir", help="folder holding the data set")
    p.add_argument("--out", required=True, type=Path, help="output folder (checkpoint, TensorBoard, result.json)")
    p.add_argument("--config", help="JSON file of recipe fields (overrides the published recipe)")
    for name, kind, text in RECIPE_FLAGS:
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=text)
    p.add_argument("--network", help='JSON object of supernet settings, e.g. \'{"C": 16, "layers": 8}\'')
    p.add_argument("--no-augment", action="store_true", help="no crop/flip augmentation of RGB images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: a GPU when visible")
    p.add_argument("--no-amp", action="store_true", help="no bf16 mixed precision on GPU")
    p.add_argument("--no-channels-last", action="store_true", help="keep NCHW memory layout on GPU")
    p.add_argument("--no-sync-bn", action="store_true", help="per-process batch norm when distributed")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt (bit-exact)")
    p.add_argument("--stop-after", type=int, metavar="STEPS", help="stop (checkpointed) after this many steps")
    p.add_argument("--checkpoint-steps", type=int, default=0, metavar="K", help="also checkpoint every K steps")
    p.add_argument("--limit", type=int, help="use at most this many examples per split (quick runs)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the training set held out")
    p.add_argument("--workers", type=int, default=0, help="data loader processes (exact resume needs 0)")
    p.add_argument("--ensemble", type=int, default=1, metavar="N",
                   help="train N copies in lockstep and compare them with one model of the same budget")
    p.add_argument("--patience", type=int, default=0,
                   help="stop an ensemble copy after this many epochs without validation improvement")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _overrides(args) -> list[dict]:
    layers = [read_config(args.config)] if args.config else []
    flags = {name: getattr(args, name) for name, _, _ in RECIPE_FLAGS}
    if args.network:
        try:
            flags["network"] = json.loads(args.network)
        except json.JSONDecodeError as err:
            raise UserError(f"--network is not valid JSON ({err})") from None
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


def run(args) -> int:
    from samplenas.training.retrain import RetrainJob, arch_from_top, retrain

    space, arch = (args.space, args.arch) if args.arch else arch_from_top(args.from_top, args.space)
    if not space:
        raise UserError("--space is required with --arch")
    job = RetrainJob(
        space=space, arch=arch, data=args.data, out=args.out, recipe=resolve_recipe(space, *_overrides(args)),
        data_dir=args.data_dir, seed=args.seed, device=args.device, amp=not args.no_amp,
        channels_last=not args.no_channels_last, sync_bn=not args.no_sync_bn, resume=args.resume,
        stop_after=args.stop_after, checkpoint_steps=args.checkpoint_steps, limit=args.limit,
        val_fraction=args.val_fraction, workers=args.workers, ensemble=args.ensemble, patience=args.patience,
        progress=not args.quiet, command=command_line(args),
    )
    result = retrain(job)
    if result is None:
        print(f"stopped after --stop-after steps; continue with --resume (checkpoint in {args.out})")
        return 0
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    print(json.dumps({"test": result["test"], "params": result["params"], "macs": result["macs"],
                      "wall_time_s": result["wall_time_s"], "result": str(args.out / "result.json")}))
    if "ensemble" in result:
        print(json.dumps({"ensemble": result["ensemble"]}))
    return 0

