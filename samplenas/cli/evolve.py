"""`samplenas evolve`: evolutionary search that trains every candidate fully, on Ray (local or a cluster).

Hajewski & Oliveira's evolved autoencoders (Algorithms 1-3: (mu + lambda), forced mutation and
crossover, an evaluation cache), or their random-search baseline with `--baseline random`; works for
the classification spaces too (fitness = validation accuracy).
"""

from __future__ import annotations

from samplenas.cli.options import add_ray_options, datasets_text, output_folder, ray_settings
from samplenas.spaces import SPACES
from samplenas.strict_json import dumps
from samplenas.training import typed_config


def register(subparsers) -> None:
    p = subparsers.add_parser("evolve", help="evolve architectures, training each candidate fully, on Ray")
    p.add_argument("--space", default="autoencoder", help=f"search space: {', '.join(SPACES.names())} "
                                                          "(default autoencoder)")
    p.add_argument("--task", help="denoising (Gaussian noise, variance 1/3) or reconstruction for the autoencoder "
                                  "space (default denoising); classification for the others")
    p.add_argument("--data", default="digits", help=f"data set: {datasets_text()} (default: digits)")
    p.add_argument("--data-dir", help="folder holding the data set")
    p.add_argument("--out", required=True, type=output_folder,
                   help="output folder (evaluations.jsonl, state.json, result.json, TensorBoard, PNGs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evolution, the weights and the data (default: 0)")
    p.add_argument("--population", type=int, default=10, help="mu, parents kept per generation (paper: 10)")
    p.add_argument("--generations", type=int, default=20, help="generations (paper: 20)")
    p.add_argument("--epochs-per-candidate", type=int, default=2, help="training epochs per candidate (paper: 2 or 5)")
    p.add_argument("--final-epochs", type=int, default=20,
                   help="retrain the best for this many epochs (paper: 20 denoising, 40 manifold); 0 = skip")
    p.add_argument("--top", type=int, default=3, help="architectures retrained and reported (default 3)")
    p.add_argument("--reductions", type=int, help="autoencoder: reduction modules (manifold learning: 2 or 3)")
    p.add_argument("--max-layers", type=int, help="autoencoder: most layers in the module (paper: 10)")
    p.add_argument("--baseline", choices=("random",),
                   help="instead of evolving, train --samples random architectures for --final-epochs")
    p.add_argument("--samples", type=int, default=30, help="random baseline: architectures (paper: 30)")
    p.add_argument("--max-params", type=int, help="every candidate has at most this many parameters "
                                                  "(mutations and crossovers above it are redrawn)")
    p.add_argument("--max-flops", "--max-macs", dest="max_macs", type=int,
                   help="every candidate has at most this many multiply-adds")
    p.add_argument("--max-latency-ms", type=float, help="every candidate is predicted at most this fast by "
                                                        "--latency-table")
    p.add_argument("--latency-table", help="latency lookup table of the target device, for --max-latency-ms")
    p.add_argument("--batch-size", type=int, help="training batch size (default: the space's recipe)")
    p.add_argument("--lr", type=float, help="learning rate (default: the space's recipe)")
    p.add_argument("--image-size", type=int, help="resize the images (e.g. 32 for 28x28 data with 3 reductions)")
    p.add_argument("--network", help='JSON object of supernet settings, e.g. \'{"C": 16, "layers": 8}\'')
    p.add_argument("--limit", type=int, help="use at most this many examples per split (quick runs)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the training set held out")
    add_ray_options(p, "evolve")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def command_line(args) -> list[str]:
    words = ["samplenas", "evolve"]
    for name, value in vars(args).items():
        if name in ("command", "func") or value is None or value is False:
            continue
        words.append(f"--{name.replace('_', '-')}")
        if value is not True:
            words.append(str(value))
    return words


def _network(args) -> dict:
    network = {}
    if args.network:  # the strict typed reader train/retrain use (no NaN, bounded depth, an object)
        network = typed_config.loads_object(args.network, "--network")
    if args.image_size is not None:
        network["image_size"] = args.image_size
    return network


def run(args) -> int:
    from samplenas.population.evolve_job import EvolveJob, run_evolve

    recipe = {name: getattr(args, name) for name in ("batch_size", "lr") if getattr(args, name) is not None}
    job = EvolveJob(
        space=args.space, task=args.task, data=args.data, data_dir=args.data_dir, out=args.out, seed=args.seed,
        population=args.population, generations=args.generations, epochs_per_candidate=args.epochs_per_candidate,
        final_epochs=args.final_epochs, top=args.top, reductions=args.reductions, max_layers=args.max_layers,
        network=_network(args), recipe=recipe, limit=args.limit, val_fraction=args.val_fraction,
        ray=ray_settings(args),
        baseline=args.baseline, samples=args.samples, max_params=args.max_params, max_macs=args.max_macs,
        max_latency_ms=args.max_latency_ms, latency_table=args.latency_table, resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.quiet,
        command=command_line(args),
    )
    result = run_evolve(job)
    summary = {"mode": result["mode"], "top": [{k: e.get(k) for k in ("rank", "arch", "search_fitness")}
                                               | {"final_fitness": (e.get("final") or {}).get("fitness"),
                                                  "final_test_fitness": (e.get("final") or {}).get("test_fitness")}
                                               for e in result["top"]],
               "evaluations": result["evaluations"], "result": str(args.out / "result.json")}
    for extra in ("cache", "random"):
        if extra in result:
            summary[extra] = result[extra]
    print(dumps(summary))
    return 0
