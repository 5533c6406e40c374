"""`samplenas latency`: measure a latency table on this device, predict networks' latency from one."""

from __future__ import annotations

from samplenas.cli.options import spaces_text
from samplenas.cli.threads import add_threads_option
from samplenas.errors import UserError
from samplenas.strict_json import dumps

LIMITS = {"repeats": (1, 100_000), "rounds": (1, 1000), "warmup": (0, 100_000), "calibrate": (0, 100_000),
          "batch_size": (1, 65_536)}


def register(subparsers) -> None:
    parser = subparsers.add_parser("latency", help="latency tables: measure blocks on this device, predict networks")
    commands = parser.add_subparsers(dest="latency_command", required=True, metavar="SUBCOMMAND")

    p = commands.add_parser(
        "measure", help="time every building block of a space (and a few whole networks) into a table",
        description="Time every building block a network of SPACE can contain, at the shape it receives in "
                    "the network, on this device; then time --calibrate random whole networks and fit the "
                    "scale from the sum of blocks to the measured latency. Writes a versioned JSON table.")
    p.add_argument("--space", required=True, help=f"search space: {spaces_text()}")
    p.add_argument("--network", help='JSON object of supernet settings (network size), e.g. \'{"C": 8, "layers": 5}\'')
    p.add_argument("--batch-size", type=int, default=1, help="inputs per forward pass (default: 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls before each timed run (default: 5)")
    p.add_argument("--repeats", type=int, default=20, help="timed calls whose median is kept (default: 20)")
    p.add_argument("--rounds", type=int, default=3,
                   help="passes over all blocks; the least median is kept, shedding bursts of other load (default: 3)")
    p.add_argument("--calibrate", type=int, default=8,
                   help="random whole networks timed to fit the scale correction (default: 8; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration networks (default: 0)")
    p.add_argument("-o", "--output", required=True, metavar="TABLE.json", help="the table to write")
    add_threads_option(p)
    p.set_defaults(func=run_measure)

    p = commands.add_parser("predict", help="predicted latency of architectures from a table")
    p.add_argument("archs", nargs="+", metavar="ARCH", help="architectures (readable form or comma-separated ints)")
    p.add_argument("--table", required=True, metavar="TABLE.json", help="table written by `samplenas latency measure`")
    p.add_argument("--space", help=f"refuse a table measured for another space ({spaces_text()})")
    p.add_argument("--network", help="refuse a table measured for other supernet settings (JSON object)")
    p.add_argument("--batch-size", type=int, help="refuse a table measured at another batch size")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_predict)


def _network(text: str | None) -> dict | None:
    from samplenas.training import typed_config

    if text is None:
        return None
    return typed_config.loads_object(text, "--network")


def _check_limits(args) -> None:
    for name, (low, high) in LIMITS.items():
        value = getattr(args, name, None)
        if value is not None and not low <= value <= high:
            raise UserError(f"--{name.replace('_', '-')} must be in {low}..{high}, got {value}")


def _check_cuda(device: str) -> None:
    """A CUDA device that is not here is one line before anything is timed (not a traceback mid-run)."""
    import torch

    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is available here "
                        "(use --device cpu, or measure where the GPU is)")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                        f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")


def run_measure(args) -> int:
    from samplenas.hardware.latency import measure_table
    from samplenas.hardware.table import write_table
    from samplenas.hardware.timing import Protocol
    from samplenas.spaces import SPACES

    _check_limits(args)
    SPACES[args.space]  # UnknownName (one line) naming the valid spaces
    network = _network(args.network)
    _check_cuda(args.device)
    protocol = Protocol(warmup=args.warmup, repeats=args.repeats, rounds=args.rounds)
    table = measure_table(args.space, network, args.batch_size, args.device, protocol, calibrate=args.calibrate,
                          seed=args.seed, log=print)
    path = write_table(args.output, table)
    c = table["correction"]
    print(f"wrote {path}: {len(table['blocks'])} blocks, fixed {sum(table['fixed'].values()):.3f} ms, "
          f"correction {c['scale']:.3f} * sum from {c['networks']} networks "
          f"({table['device']['name']}, {table['device']['threads']} threads, batch {table['batch_size']})")
    return 0


def run_predict(args) -> int:
    from samplenas.hardware.latency import LatencyModel

    _check_limits(args)
    model = LatencyModel.load(args.table)
    model.require(space=args.space, network=_network(args.network), batch_size=args.batch_size)
    rows = []
    for text in args.archs:
        arch = model.space.parse(text)
        rows.append({"arch": model.space.to_str(arch), "sum_ms": model.block_sum(arch),
                     "predicted_ms": model.predict(arch)})
    if args.json:
        print(dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['predicted_ms']:9.3f} ms  (blocks {row['sum_ms']:.3f} ms)  {row['arch']}")
    return 0

