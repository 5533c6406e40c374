"""--scorer of `search` and `rank`: the names come from `training.choices`, so --help stays fast."""

from __future__ import annotations

from samplenas.training.choices import SEARCH_SCORER_DEFAULTS, SUPERNET_SCORERS, ZERO_COST_PROXIES


def add_scorer_option(parser, default: str | None = "supernet") -> None:
    """default None: the space's own (`SEARCH_SCORER_DEFAULTS`), as `search` uses."""
    if default is None:
        defaults = ", ".join(f"{scorer} for {space}" for space, scorer in SEARCH_SCORER_DEFAULTS.items())
        text = f"default: {defaults}, supernet for the other spaces"
    else:
        text = f"default: {default}"
    parser.add_argument("--scorer", default=default,
                        help="how architectures are scored: "
                             + ", ".join(f"{name} ({what})" for name, what in SUPERNET_SCORERS.items())
                             + f", {', '.join(ZERO_COST_PROXIES)} (zero-cost proxies of the "
                             "freshly initialised network, no training), or several joined by '+' for their rank "
                             "average, e.g. supernet+params, with weights for a weighted one, e.g. "
                             f"0.25*supernet+0.75*params (`samplenas fit-scorer` learns them; {text})")
