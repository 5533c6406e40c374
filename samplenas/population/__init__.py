"""Population searches that train every candidate fully, on Ray Core (see engine.py): evolved
autoencoders (evolve.py); the PBT and Deep-n-Cheap searches build on the same engine.

Nothing is imported here, so `import samplenas.population` stays cheap; import the submodules.
"""
