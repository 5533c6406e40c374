import gzip
import struct
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from samplenas.errors import UserError
from samplenas.training.data import DATASETS, load_dataset
from samplenas.training.image_archives import cifar10_jpeg_folder, decoded_image_folder
from samplenas.training.splits import stratified_order

MNIST_TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # shared/data README


def test_digits_needs_no_data_dir_and_splits_are_disjoint():
    data = load_dataset("digits")
    assert (data.info.num_classes, data.info.in_channels, data.info.image_size) == (10, 1, 8)
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    x, y = data.train.batch([0, 1, 2])
    assert x.shape == (3, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    # the validation split comes out of the training set; the test set is fixed whatever the seed
    other = load_dataset("digits", seed=7)
    assert torch.equal(other.test.images, data.test.images)
    assert not torch.equal(other.val.images, data.val.images)
    assert sorted(torch.cat([other.train.labels, other.val.labels]).tolist()) == sorted(
        torch.cat([data.train.labels, data.val.labels]).tolist())


def test_digits_normalised_and_resizable():
    data = load_dataset("digits", splits=("train",), image_size=16)
    x, _ = data.train.batch(np.arange(len(data.train)))
    assert x.shape[-2:] == (16, 16) and data.info.image_size == 16 and data.val is None
    native = load_dataset("digits", splits=("train",)).train.batch(np.arange(len(data.train)))[0]
    assert abs(float(native.mean())) < 0.02 and abs(float(native.std()) - 1) < 0.02  # stats of train+val


@pytest.mark.full_data("mnist")
def test_mnist_from_shared_gz_matches_published_label_counts(data_dir):
    data = load_dataset("mnist", data_dir, splits=("train", "val"))
    assert (len(data.train), len(data.val)) == (54000, 6000)
    labels = torch.cat([data.train.labels, data.val.labels])
    assert np.bincount(labels.numpy()).tolist() == MNIST_TRAIN_LABEL_COUNTS
    assert data.info.input_shape == (1, 28, 28)


def _labels_in_gz(path) -> list[int]:
    """Label counts read straight from an idx1 .gz file (header: 0, 0x08, 1 dimension, the count)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    assert struct.unpack(">HBBI", data[:8]) == (0, 8, 1, len(data) - 8)
    return np.bincount(np.frombuffer(data, np.uint8, offset=8), minlength=10).tolist()


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_sets_load_every_example_of_their_gz_files(data_dir, name):
    data = load_dataset(name, data_dir, val_fraction=0.1)
    train_counts = _labels_in_gz(data_dir / name / "train-labels-idx1-ubyte.gz")
    labels = torch.cat([data.train.labels, data.val.labels])
    assert np.bincount(labels.numpy(), minlength=10).tolist() == train_counts
    assert len(data.val) == round(0.1 * sum(train_counts))
    assert np.bincount(data.test.labels.numpy(), minlength=10).tolist() == _labels_in_gz(
        data_dir / name / "t10k-labels-idx1-ubyte.gz")
    x, y = data.test.batch([0, 1])
    assert x.shape == (2, 1, 28, 28) and data.info.input_shape == (1, 28, 28)
    assert 0.05 < float(data.train.images.float().mean()) / 255 < 0.5  # real images, not blank pages


def test_fashion_mnist_limit(data_dir):
    data = load_dataset("fashion-mnist", data_dir, splits=("test",), limit=100)
    assert len(data.test) == 100 and data.train is None



def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UserError) as err:
        load_dataset("imagenet")
    assert all(name in str(err.value) for name in DATASETS)


def test_missing_data_dir_is_named(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")
    with pytest.raises(UserError, match="needs --data-dir"):
        load_dataset("cifar10")
    with pytest.raises(UserError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(UserError, match="cifar10-jpeg"):
        load_dataset("cifar10-jpeg", tmp_path)


def test_cifar10_jpeg_archive_extracted_once(tmp_path):
    """A tiny archive in the shared copy's layout: extracted atomically into the cache, then reused."""
    source = tmp_path / "data" / "cifar10-jpeg"
    source.mkdir(parents=True)
    with tarfile.open(source / "cifar10_jpeg_q75.tar.gz", "w:gz") as tar:
        for split, n in (("train", 10), ("test", 2)):
            for cls in ("airplane", "cat"):
                for i in range(n):
                    path = tmp_path / f"{split}_{cls}_{i}.jpg"
                    Image.new("RGB", (32, 32), (i * 20, 100, 200)).save(path, quality=75)
                    tar.add(path, arcname=f"{split}/{cls}/{i:04d}.jpg")
    cache = tmp_path / "cache"
    data = load_dataset("cifar10-jpeg", tmp_path / "data", cache_dir=cache, val_fraction=0.2)
    assert (len(data.train), len(data.val), len(data.test)) == (16, 4, 4)
    x, y = data.train[0]
    assert x.shape == (3, 32, 32) and y in (0, 1)
    folder = cifar10_jpeg_folder(tmp_path / "data", cache)
    names = sorted(p.name for p in cache.iterdir())  # the extracted folder and its decoded arrays, no staging files
    assert len(names) == 2 and names[0] == folder.name and names[1].startswith(f"decoded-{folder.name}-")
    # a later run reads the decoded arrays without importing torchvision (seconds at every start)
    script = ("import sys; from samplenas.training.data import load_dataset; "
              f"load_dataset('cifar10-jpeg', {str(tmp_path / 'data')!r}, cache_dir={str(cache)!r}, val_fraction=0.2); "
              "sys.exit('torchvision' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", script], timeout=120).returncode == 0


@pytest.fixture(scope="module")
def real_cifar_cache(data_dir, tmp_path_factory):
    """The JPEG CIFAR-10 archive (full or the fixtures' cut) extracted once for this module's tests."""
    cache = tmp_path_factory.mktemp("cifar-cache")
    cifar10_jpeg_folder(data_dir, cache)
    return cache


@pytest.mark.slow
@pytest.mark.full_data("cifar10-jpeg")
def test_cifar10_jpeg_real_archive(data_dir, real_cifar_cache):
    data = load_dataset("cifar10-jpeg", data_dir, cache_dir=real_cifar_cache, limit=4)
    folder = cifar10_jpeg_folder(data_dir, real_cifar_cache)
    assert len(list((folder / "train").rglob("*.jpg"))) == 50000
    assert len(list((folder / "test").rglob("*.jpg"))) == 10000
    assert sorted(p.name for p in (folder / "test").iterdir())[:2] == ["airplane", "automobile"]
    x, y = data.train[3]
    assert x.shape == data.info.input_shape == (3, 32, 32) and 0 <= y < 10


@pytest.mark.slow
@pytest.mark.full_data("cifar10-jpeg")
def test_cifar10_jpeg_evaluation_batches_cover_every_class(data_dir, real_cifar_cache):
    """ImageFolder sorts by class: validation, its evaluation prefix and --limit must still be stratified."""
    from samplenas.training.supernet_eval import validation_batches

    data = load_dataset("cifar10-jpeg", data_dir, cache_dir=real_cifar_cache, val_fraction=0.1, seed=3)
    assert set(data.train.origin).isdisjoint(data.val.origin)  # no validation image is trained on
    assert len(data.val) == 5000 and np.bincount(data.val.labels, minlength=10).tolist() == [500] * 10
    labels = torch.cat([y for _, y in validation_batches(data.val, 100, 500, torch.device("cpu"))])
    counts = np.bincount(labels.numpy(), minlength=10)
    assert counts.min() >= 45 and counts.max() <= 55, counts  # 50 each, up to the interleaving's rounding
    limited = load_dataset("cifar10-jpeg", data_dir, splits=("test",), cache_dir=real_cifar_cache, limit=200)
    assert np.bincount(limited.test.labels, minlength=10).tolist() == [20] * 10



def test_digits_validation_and_limit_are_stratified():
    full = load_dataset("digits", val_fraction=0.2, seed=0)
    limited = load_dataset("digits", val_fraction=0.2, seed=0, limit=100)
    for name in ("train", "val", "test"):
        share = np.bincount(getattr(full, name).labels.numpy(), minlength=10) / len(getattr(full, name))
        counts = np.bincount(getattr(limited, name).labels.numpy(), minlength=10)
        assert np.all(np.abs(counts - 100 * share) <= 2), (name, counts, 100 * share)
    val_share = np.bincount(full.val.labels.numpy(), minlength=10) / len(full.val)
    assert val_share.min() > 0.09 and val_share.max() < 0.11  # the held-out part of a balanced set is balanced



def test_train_examples_subsets_only_the_training_split():
    """A stratified draw of the training set, validation held out of it, the test set whole; for one seed the
    smaller draw lies inside the larger one (a low-data study's sizes are nested)."""
    full = load_dataset("digits", val_fraction=0.2)
    small = load_dataset("digits", val_fraction=0.2, train_examples=100)
    larger = load_dataset("digits", val_fraction=0.2, train_examples=300)
    assert (len(small.train), len(small.val)) == (80, 20)
    assert torch.equal(small.test.images, full.test.images)
    counts = np.bincount(torch.cat([small.train.labels, small.val.labels]).numpy(), minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11
    drawn = [{bytes(image.numpy()) for image in torch.cat([d.train.images, d.val.images])} for d in (small, larger)]
    assert drawn[0] <= drawn[1]
    with pytest.raises(UserError, match="--train-examples 5000 exceeds the 1438 training examples of digits"):
        load_dataset("digits", train_examples=5000)


@pytest.mark.slow
def test_cifar10_jpeg_tensors_are_the_pil_pipeline_bitwise(data_dir, real_cifar_cache):
    """Decoded once into uint8 tensors, every split holds the images, labels and split of the per-image PIL path."""
    import torchvision.datasets as tvd
    from torchvision import transforms as T

    data = load_dataset("cifar10-jpeg", data_dir, cache_dir=real_cifar_cache, seed=5)
    folder = cifar10_jpeg_folder(data_dir, real_cifar_cache)
    pil = T.Compose([T.ToTensor(), T.Normalize(data.info.mean, data.info.std)])
    train, test = (tvd.ImageFolder(str(folder / split), pil) for split in ("train", "test"))
    order = stratified_order(np.asarray(train.targets), 5)  # the split the PIL path drew
    n_val = round(0.1 * len(train))  # 5,000 of the full set's 50,000
    assert sorted(data.val.origin) == sorted(order[:n_val]) and len(data.train) == len(train) - n_val
    rng = np.random.default_rng(0)
    for split, source in ((data.train, train), (data.val, train), (data.test, test)):
        for i in rng.choice(len(split), 8, replace=False):
            x, y = split[int(i)]
            reference, label = source[int(split.origin[i])]
            assert torch.equal(x, reference) and int(y) == label


def _image_folder(root, sizes=None):
    rng = np.random.default_rng(1)
    for split, count in (("train", 6), ("test", 2)):
        for label in ("bird", "cat"):
            (root / split / label).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / label / f"{i}.jpg", quality=75)
    return root


def test_decoded_folder_is_cached_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch, capsys):
    import torchvision.datasets as tvd

    from samplenas.training import image_archives

    folder = _image_folder(tmp_path / "folder")
    first = decoded_image_folder(folder, tmp_path / "cache")
    assert "decoding the 12 images" in capsys.readouterr().err
    reference = tvd.ImageFolder(str(folder / "train"))
    assert first[0][1].tolist() == reference.targets
    pixels = np.asarray(Image.open(reference.samples[7][0]).convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(first[0][0][7], pixels)
    monkeypatch.setattr(image_archives, "_decode_split", lambda split: pytest.fail("decoded again"))
    again = decoded_image_folder(folder, tmp_path / "cache")
    assert all(np.array_equal(a, b) for pair_a, pair_b in zip(first, again) for a, b in zip(pair_a, pair_b))
    monkeypatch.undo()
    (cached,) = (tmp_path / "cache").glob("decoded-*.npz")
    cached.write_bytes(b"not an npz")
    rebuilt = decoded_image_folder(folder, tmp_path / "cache")
    assert "decoding again" in capsys.readouterr().err
    assert np.array_equal(rebuilt[1][0], first[1][0])



def test_augmentation_reaches_the_training_split_only(tmp_path):
    root = tmp_path / "data"
    _image_folder(root / "cifar10-jpeg")
    plain = load_dataset("cifar10-jpeg", root, cache_dir=tmp_path / "cache", val_fraction=0.25)
    augmented = load_dataset("cifar10-jpeg", root, cache_dir=tmp_path / "cache", val_fraction=0.25, augment=True)
    assert augmented.train.pad_crop == 4 and augmented.val.pad_crop == 0 and augmented.test.pad_crop == 0
    order = np.arange(len(augmented.train))
    crops = augmented.train.batch(order, key=(0, 0))[0]
    assert not torch.equal(crops, plain.train.batch(order, key=(0, 0))[0])
    assert torch.equal(crops, augmented.train.batch(order, key=(0, 0))[0])  # a function of the key
    assert torch.equal(augmented.train.batch(order)[0], plain.train.batch(order)[0])  # no key: no augmentation
    assert torch.equal(augmented.val.batch([0, 1], key=(0, 0))[0], plain.val.batch([0, 1])[0])
