"""samplenas: weight-sharing supernets and learned samplers for neural architecture search."""

__version__ = "0.1.0"


def load_model(path, arch=None, member=0, device="cpu", data_dir=None):
    """The trained network saved at `path`, in eval mode: a retrain folder (the retrained network), a
    `samplenas train` run (its supernet, or with `arch` that architecture's network with the shared
    weights and recalibrated batch norm) or a search's RUN/top.json (its best architecture).
    See `samplenas.training.models`; imported here lazily so `import samplenas` stays light."""
    from samplenas.training.models import load_model as load

    return load(path, arch=arch, member=member, device=device, data_dir=data_dir)


__all__ = ["__version__", "load_model"]
