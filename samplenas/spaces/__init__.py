"""Search spaces. `SPACES[name]()` builds one; see `base.SearchSpace` for the contract."""

from samplenas.registry import Registry
from samplenas.spaces.base import Arch, InvalidArchitecture, SearchSpace

SPACES = Registry(
    "space",
    {
        "nb101": "samplenas.spaces.nasbench101:NASBench101Space",
        "nasnet": "samplenas.spaces.nasnet:NASNetSpace",
        "shufflenet": "samplenas.spaces.shufflenet:ShuffleNetSpace",
        "autoencoder": "samplenas.spaces.autoencoder:AutoencoderSpace",
    },
)

__all__ = ["SPACES", "Arch", "InvalidArchitecture", "SearchSpace"]
