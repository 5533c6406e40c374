"""--scorer of `search` and `rank`: the names come from `training.choices`, so --help stays fast."""

from __future__ import annotations

from samplenas.training.choices import SCORER_PARTS


def add_scorer_option(parser) -> None:
    parser.add_argument("--scorer", default="supernet",
                        help=f"how architectures are scored: {', '.join(SCORER_PARTS)} (zero-cost proxies of the "
                             "freshly initialised network, no training), or several joined by '+' for their rank "
                             "average, e.g. supernet+synflow (default: supernet)")
