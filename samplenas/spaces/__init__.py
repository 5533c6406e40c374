"""Search spaces. `SPACES[name]()` builds one; see `base.SearchSpace` for the contract."""

from samplenas.errors import InvalidArchitecture
from samplenas.registry import Registry

SPACES = Registry(
    "space",
    {
        "nb101": "samplenas.spaces.nasbench101:NASBench101Space",
        "nasnet": "samplenas.spaces.nasnet:NASNetSpace",
        "shufflenet": "samplenas.spaces.shufflenet:ShuffleNetSpace",
        "autoencoder": "samplenas.spaces.autoencoder:AutoencoderSpace",
    },
    group="samplenas.spaces",  # plugins: see samplenas.registry
)

__all__ = ["SPACES", "Arch", "InvalidArchitecture", "SearchSpace", "SpaceSize", "as_generator"]


def __getattr__(name: str):
    """`Arch`, `SearchSpace`, `SpaceSize` and `as_generator` live in `base`, which imports numpy: loaded on
    first use, so that listing the registered names (what `samplenas --help` does) stays free of numpy."""
    if name in ("Arch", "SearchSpace", "SpaceSize", "as_generator"):
        from samplenas.spaces import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
