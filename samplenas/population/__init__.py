"""Population searches that train every candidate fully, on Ray Core (see engine.py): evolved
autoencoders (evolve.py); the PBT and Deep-n-Cheap searches build on the same engine.

Importing this package registers the networks a Deep-n-Cheap search finds as supernet "dnc" (fixed
networks, not a weight-sharing supernet), so they retrain, evaluate and export like any other
architecture; the supernet floor below never names this one. Nothing heavy is imported here, so
`import samplenas.population` stays cheap; import the submodules.
"""

from samplenas.supernet import SUPERNETS

SUPERNETS.register("dnc", "samplenas.population.dnc_space:DncNetworks")
