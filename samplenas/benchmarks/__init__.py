"""Tabular NAS benchmarks: the NAS-Bench-101 reader, HDF5 store and query API."""

from samplenas.benchmarks.nasbench101 import NASBench101, OutOfDomainError

__all__ = ["NASBench101", "OutOfDomainError"]
