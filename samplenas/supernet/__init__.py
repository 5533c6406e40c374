"""Weight-sharing supernets, one per search space: `SUPERNETS[name](**settings)`.

Floors above add their own networks when imported (`import samplenas.population` registers "dnc").
"""

from samplenas.registry import Registry

SUPERNETS = Registry(
    "supernet",
    {
        "nb101": "samplenas.supernet.nasbench101:NASBench101Supernet",
        "nasnet": "samplenas.supernet.nasnet:NASNetSupernet",
        "shufflenet": "samplenas.supernet.shufflenet:ShuffleNetSupernet",
        "autoencoder": "samplenas.supernet.autoencoder:AutoencoderSupernet",
    },  # the population floor adds "dnc" when imported (samplenas.population): this floor never names it
    group="samplenas.supernets",  # plugins: see samplenas.registry
)

__all__ = ["SUPERNETS"]
