"""Weight-sharing supernets, one per search space: `SUPERNETS[name](**settings)`."""

from samplenas.registry import Registry

SUPERNETS = Registry(
    "supernet",
    {
        "nb101": "samplenas.supernet.nasbench101:NASBench101Supernet",
        "nasnet": "samplenas.supernet.nasnet:NASNetSupernet",
        "shufflenet": "samplenas.supernet.shufflenet:ShuffleNetSupernet",
        "autoencoder": "samplenas.supernet.autoencoder:AutoencoderSupernet",
    },
)

__all__ = ["SUPERNETS"]
