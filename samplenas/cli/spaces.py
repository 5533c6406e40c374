"""`samplenas spaces`: list the registered spaces, their positions, choices and size; sample."""

from __future__ import annotations

import json

from samplenas.cli.options import spaces_text
from samplenas.errors import UserError
from samplenas.spaces import SPACES


def register(subparsers) -> None:
    p = subparsers.add_parser("spaces", help="list search spaces (positions, choices, size) and sample from them")
    p.add_argument("names", nargs="*", help=f"spaces to show: {spaces_text()} (default: all)")
    p.add_argument("--sample", type=int, default=0, metavar="N", help="also print N sampled architectures")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default: 0)")
    p.add_argument("--validate", metavar="ARCH", help="check an architecture (readable form or ints)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def describe(space) -> dict:
    count, exact = space.size()
    positions = [
        {"name": name, "choices": space.choice_names(i)} for i, name in enumerate(space.position_names())
    ]
    return {"name": space.name, "positions": positions, "size": count, "size_exact": exact}


def format_size(count: int, exact: bool) -> str:
    return f"{count:,}" if exact else f"~{count:.2e}"


def run(args) -> int:
    import numpy as np

    names = args.names or SPACES.names()
    spaces = [SPACES[name]() for name in names]
    if args.validate is not None:
        if len(spaces) != 1:
            raise UserError("--validate needs exactly one space name")
        arch = spaces[0].parse(args.validate)
        print(f"valid: {spaces[0].describe(arch)}  key={spaces[0].key(arch)}")
        return 0
    rng = np.random.default_rng(args.seed)
    report = []
    for name, space in zip(names, spaces):
        entry = describe(space)
        entry["origin"] = SPACES.origin(name)  # "built-in" or "plugin DIST VERSION"
        entry["samples"] = [space.to_str(space.sample(rng)) for _ in range(args.sample)]
        report.append(entry)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for entry in report:
        dims = [len(p["choices"]) for p in entry["positions"]]
        origin = "" if entry["origin"] == "built-in" else f" ({entry['origin']})"
        print(f"{entry['name']}: {len(dims)} positions, size {format_size(entry['size'], entry['size_exact'])}{origin}")
        for group in _group_positions(entry["positions"]):
            print(f"  {group}")
        for text in entry["samples"]:
            print(f"  sample: {text}")
    return 0


def _group_positions(positions: list[dict]) -> list[str]:
    """Collapse runs of positions that share the same choices into one line each."""
    lines: list[str] = []
    start = 0
    for i in range(1, len(positions) + 1):
        if i == len(positions) or positions[i]["choices"] != positions[start]["choices"]:
            first, last = positions[start]["name"], positions[i - 1]["name"]
            names = first if i - start == 1 else f"{first}..{last}"
            lines.append(f"{names}: {' | '.join(positions[start]['choices'])}")
            start = i
    return lines
