"""Weight-sharing supernets, one per search space: `SUPERNETS[name](**settings)`."""

from samplenas.registry import Registry

SUPERNETS = Registry(
    "supernet",
    {
        "nb101": "samplenas.supernet.nasbench101:NASBench101Supernet",
        "nasnet": "samplenas.supernet.nasnet:NASNetSupernet",
        "shufflenet": "samplenas.supernet.shufflenet:ShuffleNetSupernet",
        "autoencoder": "samplenas.supernet.autoencoder:AutoencoderSupernet",
        # not a weight-sharing supernet: builds the fixed networks a Deep-n-Cheap search found (for retrain)
        "dnc": "samplenas.population.dnc_space:DncNetworks",
    },
    group="samplenas.supernets",  # plugins: see samplenas.registry
)

__all__ = ["SUPERNETS"]
