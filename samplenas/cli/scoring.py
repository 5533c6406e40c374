"""--scorer of `search` and `rank`: the names come from `training.choices`, so --help stays fast."""

from __future__ import annotations

from samplenas.training.choices import (
    SEARCH_SCORER_DEFAULTS,
    STANDALONE_DEFAULTS,
    STANDALONE_DOWNSCALE,
    STANDALONE_STEPS,
    SUPERNET_SCORERS,
    TRAINED_SCORERS,
    ZERO_COST_PROXIES,
)


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
                             "freshly initialised network, no training), "
                             + ", ".join(f"{name} ({what}; seconds per architecture)"
                                         for name, what in TRAINED_SCORERS.items())
                             + ", or several joined by '+' for their rank "
                             "average, e.g. supernet+params, with weights for a weighted one, e.g. "
                             f"0.25*supernet+0.75*params (`samplenas fit-scorer` learns them; {text})")
    parser.add_argument("--standalone-steps", type=int, default=None, metavar="N",
                        help="training steps of the standalone scorer: each architecture trained alone, from scratch, "
                             f"with the run's recipe ({standalone_default('steps', STANDALONE_STEPS)})")
    parser.add_argument("--standalone-downscale", type=int, default=None, metavar="K",
                        help="train and score the standalone scorer's networks on the run's images with their side "
                             "divided by K, e.g. 2: 16x16 for CIFAR-10, a reduced-resolution proxy "
                             f"({standalone_default('downscale', STANDALONE_DOWNSCALE)})")


def standalone_default(key: str, other: int) -> str:
    """The default of a standalone option in words: each space's own, then the others'."""
    own = ", ".join(f"{settings[key]} for {space}" for space, settings in STANDALONE_DEFAULTS.items())
    return f"default: {own}, {other} for the other spaces" if own else f"default {other}"
