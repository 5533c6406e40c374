"""Drop-in stand-ins for other projects' public APIs, built on samplenas (`nasbench`: NAS-Bench-101's).

A package of its own, above `benchmarks` and `training`: the official API's `evaluate()` trains,
and the benchmark tables must not import the training stack.
"""
