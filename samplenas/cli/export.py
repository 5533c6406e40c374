"""`samplenas export`: write a trained network to a file that loads and runs without samplenas."""

from __future__ import annotations

import sys
from pathlib import Path

from samplenas.cli.settings_line import settings_line
from samplenas.errors import UserError
from samplenas.strict_json import dumps

FORMATS = ("exported-program", "onnx", "state-dict")  # samplenas.training.export.FORMATS, kept torch-free here


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="write a retrained network or a search's winner as a torch.export program, ONNX or weights",
        description="Export a trained network. The exported-program and onnx files run without samplenas "
                    "(torch.export.load(f).module()(x), or any ONNX runtime); state-dict holds the weights only.")
    p.add_argument("--from", dest="source", required=True, metavar="RUN/top.json|RETRAIN_DIR",
                   help="a search's top.json (its best architecture, with the supernet's weights and batch norm "
                        "recalibrated) or a retrain output folder (the retrained weights)")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="exported-program: torch.export (.pt2); onnx: ONNX through torch.onnx's dynamo exporter "
                        "(needs samplenas[export]); state-dict: the weights for load_state_dict")
    p.add_argument("--out", required=True, type=Path, help="the file to write (atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--arch", help="with --from RUN (a `samplenas train` folder): the architecture to export "
                                   "(readable form or comma-separated choices), calibrated as the search would")
    p.add_argument("--point", type=int, metavar="K",
                   help="with --from pareto.json of `search --pareto`: export point K of the front (0 = cheapest), "
                        "with the supernet's weights")
    p.add_argument("--member", type=int, default=0, help="which network of an ensemble retrain (default: 0)")
    p.add_argument("--data-dir", help="where a supernet run's data set lives now (default: as recorded)")
    p.set_defaults(func=run)


def run(args) -> int:
    from samplenas.training.export import export_model

    source, arch = args.source, args.arch
    if args.point is not None:
        source, arch = _front_point(Path(args.source), args.point, arch)
    summary = export_model(source, args.format, args.out, overwrite=args.overwrite, arch=arch,
                           member=args.member, data_dir=args.data_dir, announce=_announce)
    print(dumps(summary))
    return 0


def _announce(used) -> None:
    """The settings the network is opened with, on stderr (stdout is the summary, one JSON object)."""
    given = ["--data-dir"] if "data_dir" in used.given else []
    print(settings_line("export", used.data, used.data_dir, used.network, used.source, given), file=sys.stderr,
          flush=True)


def _front_point(path: Path, point: int, arch: str | None) -> tuple[str, str]:
    """(supernet run folder, architecture) of point K of a front that `search --pareto` wrote."""
    from samplenas.training.artifacts import read_top

    if arch is not None:
        raise UserError("--point and --arch both choose the architecture; give one")
    front = read_top(path, point)
    chosen, run = front.best, front.run
    if run is None:
        raise UserError(f"{path} names no trained supernet run (a table front has no weights): retrain the point "
                        f"(samplenas retrain --from {path} --point {point} --out DIR) and export DIR")
    return str(run), chosen
