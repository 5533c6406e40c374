"""samplenas: weight-sharing supernets and learned samplers for neural architecture search.

The Python API in one place: `load_model` (a trained network back from a run folder), `load_dataset`
(the data sets the commands train on, for a training loop of one's own) and `recalibrate_bn` (batch-norm
statistics of one path of a supernet). Each is imported lazily, so `import samplenas` stays light.
"""

__version__ = "0.1.0"


def load_model(path, arch=None, member=0, device="cpu", data_dir=None):
    """The trained network saved at `path`, in eval mode: a retrain folder (the retrained network), a
    `samplenas train` run (its supernet, or with `arch` that architecture's network with the shared
    weights and recalibrated batch norm) or a search's RUN/top.json (its best architecture).
    See `samplenas.training.models`; imported here lazily so `import samplenas` stays light."""
    from samplenas.training.models import load_model as load

    return load(path, arch=arch, member=member, device=device, data_dir=data_dir)


def load_dataset(name, data_dir=None, splits=("train", "val", "test"), **options):
    """The train / validation / test splits of a data set, as the commands see them, and its metadata.

    name: digits (embedded, no download), mnist, fashion-mnist, cifar10, cifar10-jpeg or stl10 (these
    read the official files from `data_dir`; `download=True` fetches them with torchvision). The
    validation split is a seeded, class-stratified share of the training set (`val_fraction`, default
    0.1; `seed`, default 0), never the test set. Other options: `image_size`, `augment` (crop and flip
    for RGB training data), `limit` (at most this many examples per split), `train_examples`,
    `cache_dir` (see `samplenas.training.data.load_dataset`).

    Returns a `LoadedData` with `.info` (`num_classes`, `in_channels`, `image_size`, `mean`, `std`) and
    `.train`, `.val`, `.test`: torch `Dataset`s of (normalised float image C x H x W, int64 label). Use
    them with a `DataLoader`, or `split.batch(indices)` for a whole batch in one indexing step::

        import torch
        import samplenas

        data = samplenas.load_dataset("digits")      # 8x8 handwritten digits, bundled with scikit-learn
        loader = torch.utils.data.DataLoader(data.train, batch_size=64, shuffle=True)
        images, labels = next(iter(loader))           # (64, 1, 8, 8) float32, (64,) int64
        images, labels = data.test.batch(range(100))  # the first 100 test examples
    """
    from samplenas.training.data import load_dataset as load

    return load(name, data_dir, splits, **options)


def recalibrate_bn(model, arch, batches):
    """Re-estimate every batch-norm layer's running statistics of `model` for one architecture, as an
    exact average over `batches` (tensors or (input, target) pairs), weights untouched; returns the
    number of batches used and leaves the model in eval mode.

    A supernet's BN statistics average over every path it trained, so score or export a path only after
    this (`arch`: the architecture to run, `model(x, arch)`; None for a standalone network)::

        from samplenas import load_dataset, recalibrate_bn
        from samplenas.supernet import SUPERNETS

        supernet = SUPERNETS["shufflenet"](num_classes=10, in_channels=1, image_size=8)
        arch = supernet.space.sample(0)
        data = load_dataset("digits", splits=("train",))
        batches = (data.train.batch(range(i, i + 32)) for i in range(0, 320, 32))
        recalibrate_bn(supernet, arch, batches)      # 10
    """
    from samplenas.supernet.bn import recalibrate_bn as recalibrate

    return recalibrate(model, arch, batches)


__all__ = ["__version__", "load_dataset", "load_model", "recalibrate_bn"]
