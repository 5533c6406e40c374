"""samplenas: weight-sharing supernets and learned samplers for neural architecture search."""

__version__ = "0.1.0"
