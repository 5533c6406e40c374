"""Samplers behind one contract: `SAMPLERS[name](space, seed=0, **options)`."""

from samplenas.registry import Registry

SAMPLERS = Registry(
    "sampler",
    {
        "uniform": "samplenas.samplers.uniform:UniformSampler",
        "fair": "samplenas.samplers.fair:FairSampler",
        "gumbel": "samplenas.samplers.gumbel:GumbelSampler",
        "multinomial": "samplenas.samplers.gumbel:MultinomialSampler",
        "vae": "samplenas.samplers.vae:VAESampler",
        "evolution": "samplenas.samplers.evolution:EvolutionSampler",
        "mixture": "samplenas.samplers.mixture:MixtureSampler",
        "predictor": "samplenas.samplers.predictor:PredictorSampler",
        "proxy-filter": "samplenas.samplers.proxy_filter:ProxyFilterSampler",
    },
    group="samplenas.samplers",  # plugins: see samplenas.registry
)

__all__ = ["SAMPLERS"]
