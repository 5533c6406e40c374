"""Tabular NAS benchmarks: the NAS-Bench-101 reader, HDF5 store and query API."""

from samplenas.benchmarks.nasbench101 import (
    MissingTrainingTimeWarning,
    NASBench101,
    OutOfDomainError,
    UnknownHashError,
)

__all__ = ["MissingTrainingTimeWarning", "NASBench101", "OutOfDomainError", "UnknownHashError"]
