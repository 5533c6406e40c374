"""Names the command line offers as choices, defined once here without importing torch, so that
`samplenas --help` lists them fast and the library validates against the very same tuples."""

from __future__ import annotations

# data sets `samplenas.training.data.load_dataset` knows; digits is embedded, the others need --data-dir
DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar10-jpeg", "stl10")

# search on a trained supernet (`samplenas.training.search`)
COST_METRICS = ("params", "macs")  # what the cost term and the limits count
SEED_SOURCES = ("sampler", "uniform")  # where the initial population comes from

# how architectures are scored (`samplenas.training.scorers`): the trained supernet (its validation accuracy,
# or minus its validation loss; "-detrended": less their linear trend in the operation count), a zero-cost
# proxy of the freshly initialised network (`samplenas.training.zero_cost`), or a rank average of several
# joined by "+"
REFERENCE_CELLS = 32  # uniformly drawn architectures a scorer fits trends and measures positions over
SUPERNET_SCORERS = {
    "supernet": "its validation accuracy",
    "supernet-loss": "minus its validation loss",
    "supernet-detrended": "its accuracy with its linear trend in the operation count, fitted over "
                          f"{REFERENCE_CELLS} uniformly drawn architectures, taken out",
    "supernet-loss-detrended": "minus its loss, that trend taken out",
}
ZERO_COST_PROXIES = ("params", "flops", "grad_norm", "snip", "synflow", "jacob_cov", "naswot")
# the architecture trained alone for a few hundred steps (`samplenas.training.standalone`): seconds per
# architecture, so meant for a search's finalists (--rescore-scorer standalone), not for the whole search
STANDALONE_STEPS = 300  # what the measurements used: 0.43 epoch of CIFAR-10 at batch 64
STANDALONE_LR = 0.1  # their peak learning rate, whatever the supernet trained at (NB101's supernets: 0.025)
STANDALONE_DOWNSCALE = 1  # the run's own images; K: their side divided by K (a reduced-resolution proxy)
MIN_STANDALONE_IMAGE_SIZE = 4  # a downscaled standalone training: at least what two 2x reductions leave 1x1
# a space's own standalone training where --standalone-steps / --standalone-downscale are not given: on NB101's
# proxy, 16x16 images for 600 steps rank random cells at tau 0.76 against 0.60 at 32x32 for 300 and picked
# higher among a search's ten best (a test written first, then fresh supernets), in less time per cell
STANDALONE_DEFAULTS: dict[str, dict[str, int]] = {"nb101": {"steps": 600, "downscale": 2}}
TRAINED_SCORERS = {"standalone": "its validation accuracy after --standalone-steps steps of training alone, "
                                 f"from scratch at peak learning rate {STANDALONE_LR}"}
SCORER_PARTS = (*SUPERNET_SCORERS, *ZERO_COST_PROXIES, *TRAINED_SCORERS)
# what `search` scores with when --scorer is not given: on NB101 the rank average of the supernet and the
# parameter count picked better cells than either alone, and with the supernet scored by its validation loss
# it ranks better and picks better for fair and uniform supernets (not VAE-mixture ones; 15 supernets);
# weighted 0.25 / 0.75 (fitted on 50 table-labelled cells) they rank cells better but pick no better
# (docs/results/nb101-defaults.md); elsewhere unmeasured
SEARCH_SCORER_DEFAULTS = {"nb101": "supernet-loss+params"}
# the second scoring `search` gives its best few when --rescore-top is not given: on NB101 the best of the ten
# trained alone (on 2,000 validation images) picked better cells than the search's own first, by a test written
# before the runs, over 150 searches of 75 supernets and again through the library on 12 fresh supernets, and
# never below the largest-FLOPs pick (docs/results/nb101-finalists.md); elsewhere unmeasured, so none
SEARCH_RESCORE_DEFAULTS = {"nb101": {"top": 10, "examples": 2000, "scorer": "standalone"}}


def resolved_standalone(space: str, steps: int | None = None, downscale: int | None = None) -> dict[str, int]:
    """{"steps", "downscale"}: how the standalone scorer trains on `space`, each value given kept and each None
    the space's default."""
    default = STANDALONE_DEFAULTS.get(space, {"steps": STANDALONE_STEPS, "downscale": STANDALONE_DOWNSCALE})
    return {"steps": default["steps"] if steps is None else steps,
            "downscale": default["downscale"] if downscale is None else downscale}


def default_search_scorer(space: str) -> str:
    return SEARCH_SCORER_DEFAULTS.get(space, "supernet")


def default_search_rescoring(space: str) -> dict:
    """The space's second scoring of a search's finalists: top (0: none), examples and scorer (None: the run's)."""
    return SEARCH_RESCORE_DEFAULTS.get(space, {"top": 0, "examples": None, "scorer": None})
