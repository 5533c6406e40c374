"""`samplenas pbt`: PBT-NAS -- train a population and mix the best architectures' layers with
shrink-perturb weight inheritance (or a baseline/ablation, `--method`), on Ray."""

from __future__ import annotations

from samplenas.cli.options import add_ray_options, datasets_text, output_folder, ray_settings
from samplenas.cli.retrain import RECIPE_FLAGS, _overrides, command_line
from samplenas.spaces import SPACES
from samplenas.strict_json import dumps

METHODS = ("pbt-nas", "copy", "reinit", "no-mixing", "searl", "random")  # = population.pbt.METHODS (kept lazy)


def register(subparsers) -> None:
    p = subparsers.add_parser("pbt", help="PBT-NAS: train a population, mix layers with shrink-perturb (Ray)")
    p.add_argument("--space", required=True, choices=SPACES.names(), help="search space (nb101 cannot mix)")
    p.add_argument("--data", default="digits", help=f"data set: {datasets_text()} (default: digits)")
    p.add_argument("--data-dir", help="folder holding the data set")
    p.add_argument("--out", required=True, type=output_folder,
                   help="output folder (result.json, lineage.png, TensorBoard)")
    p.add_argument("--population", "-N", type=int, default=8, help="members N (default 8)")
    p.add_argument("--step-epochs", type=int, default=1, help="epochs between exploit steps (e_step; default 1)")
    p.add_argument("--method", choices=METHODS, default="pbt-nas",
                   help="pbt-nas (default); copy / reinit = shrink-perturb [1,0] / [0,1]; no-mixing; "
                        "searl (SEARL-like mutation); random (random search)")
    p.add_argument("--tau", type=float, default=0.25, help="share replaced / share used as parents (default 0.25)")
    p.add_argument("--p", type=float, default=0.25, help="probability of taking a layer from the donor (0.25)")
    p.add_argument("--shrink", type=float, help="shrink-perturb lambda (default: the method's, 0.4 for pbt-nas)")
    p.add_argument("--perturb", type=float, help="shrink-perturb gamma (default: the method's, 0.1 for pbt-nas)")
    p.add_argument("--config", help="JSON file of recipe fields (overrides the space's published recipe)")
    for name, kind, text in RECIPE_FLAGS:
        p.add_argument(f"--{name.replace('_', '-')}", type=kind,
                       help=text + (" per member (E)" if name == "epochs" else ""))
    p.add_argument("--network", help='JSON object of supernet settings, e.g. \'{"max_layers": 4}\'')
    p.add_argument("--no-augment", action="store_true", help="no crop/flip augmentation of RGB images")
    p.add_argument("--seed", type=int, default=0, help="seed of the population, the weights and the data (default: 0)")
    p.add_argument("--limit", type=int, help="use at most this many examples per split (quick runs)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the training set held out (fitness)")
    add_ray_options(p, "PBT")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from samplenas.training.recipes import resolve_recipe

    recipe = resolve_recipe(args.space, *_overrides(args))
    from samplenas.population.pbt import PBTJob, PBTRun, check_job

    job = PBTJob(space=args.space, data=args.data, out=args.out, recipe=recipe, population=args.population,
                 step_epochs=args.step_epochs, method=args.method, tau=args.tau, p=args.p, shrink=args.shrink,
                 perturb=args.perturb, data_dir=args.data_dir, seed=args.seed, ray=ray_settings(args),
                 limit=args.limit, val_fraction=args.val_fraction, resume=args.resume, overwrite=args.overwrite,
                 progress=not args.quiet,
                 command=["samplenas", "pbt", *command_line(args)[2:]])
    check_job(job)
    result = PBTRun(job).run()
    print(dumps({"best": result["best"]["arch"], "val_fitness": result["best"]["val_fitness"],
                      "test": result["best"]["test"], "soup_gain": result["soup"]["gain"],
                      "result": str(args.out / "result.json")}))
    return 0
