"""The official `nasbench.api` of NAS-Bench-101 on samplenas's tables: port code by changing its import.

    from nasbench import api                        # official (TensorFlow 1.x)
    from samplenas.compat import nasbench as api    # this module: nothing else changes

`api.NASBench(path)` opens what the official opens, the official tfrecord (converted once into an
HDF5 table cached under $SAMPLENAS_CACHE, default ~/.cache/samplenas; later loads take
milliseconds instead of the official ~2 minutes), and also a table written by
`samplenas nb101 convert` or the shared npz. Queries, budget counters, `hash_iterator`,
`fixed_statistics`, `computed_statistics` and `valid_epochs` behave as the official ones (see
`samplenas.benchmarks.nasbench101`); the fast extras of `NASBench101` (vectorised `values`,
`lookup`, `top_k`, `query_mean`) are there too.

Where behaviour differs, on purpose:
* a run the table holds no training time for (the shared npz has times for 30,001 of 423,624
  cells) adds an estimate to the time counter, the table's mean seconds per epoch, and warns once;
  the official would add a real time, and without the estimate a budget loop such as the official
  notebook's `if time_spent > max_time_budget: break` would never end. `missing_time="nan"` keeps
  the counter NaN instead;
* `seed` seeds this object's repeat draws only; the official also reseeds Python's global `random`
  (with `seed=None`, from the clock), which code relying on `random` elsewhere would notice;
* `config["num_repeats"]` is the number of repeats this table holds (3 in the official files);
* `evaluate()` trains with PyTorch on one device (GPU when visible); the TPU keys of `config` are
  kept for code that reads them, and `use_tpu` keeps its one effect on the recipe, the learning
  rate scaled by `tpu_num_shards`, because that is how the table's networks were trained.
"""

from __future__ import annotations

import os
from pathlib import Path

from samplenas.benchmarks.file_kind import HDF5, file_kind
from samplenas.benchmarks.nasbench101 import (
    MissingTrainingTimeWarning,
    NASBench101,
    OutOfDomainError,
    UnknownHashError,
)
from samplenas.benchmarks.nasbench101_convert import convert
from samplenas.cache import cache_root
from samplenas.disk_space import NoRoom
from samplenas.errors import UserError
from samplenas.spaces.nasbench101 import (
    CANONICAL_OPS,
    CONV1X1,
    CONV3X3,
    INPUT,
    MAX_EDGES,
    MAXPOOL3X3,
    NUM_VERTICES,
    OUTPUT,
    ModelSpec,
)

__all__ = ["NASBench", "ModelSpec", "OutOfDomainError", "UnknownHashError", "MissingTrainingTimeWarning",
           "INPUT", "OUTPUT", "CONV1X1", "CONV3X3", "MAXPOOL3X3", "official_config"]

TPU_NUM_SHARDS = 2  # the official default; the table's learning rate is 0.1 x 2 shards


class NASBench(NASBench101):
    """`nasbench.api.NASBench(dataset_file, seed=None)`; see the module docstring for the differences."""

    def __init__(self, dataset_file: str | os.PathLike, seed=None, missing_time: str = "mean"):
        super().__init__(table_path(dataset_file), seed=seed, missing_time=missing_time)
        self.config = official_config(self.config["num_repeats"])

    def evaluate(self, model_spec: ModelSpec, model_dir: str | os.PathLike, *, data: str = "cifar10",
                 data_dir: str | None = None, limit: int | None = None, device: str | None = None,
                 seed: int = 0, progress: bool = False) -> dict:
        """Train the cell from scratch with NAS-Bench-101's recipe, as read from `self.config`, and test it.

        Runs the retrainer (samplenas.training.retrainer) on `data` (CIFAR-10 from `data_dir`, split
        40k/10k like the official; `limit` caps every split for quick runs) and writes its checkpoint
        and TensorBoard logs plus the official `metadata.json` into `model_dir`. Returns the dict
        `query()` returns; `train_accuracy` is measured on up to 10,000 un-augmented training
        images, as the official does. The spec must lie inside the NAS-Bench-101 space.
        """
        from samplenas.compat.nasbench_evaluate import train_and_evaluate  # torch loads only here

        return train_and_evaluate(model_spec, self.config, Path(model_dir), data=data, data_dir=data_dir,
                                  limit=limit, device=device, seed=seed, progress=progress)


def official_config(num_repeats: int = 3) -> dict:
    """The official `nasbench.lib.config.build_config()` defaults (same keys, same order).

    The model and training values are read from samplenas's `nb101` recipe, which was written from
    the same file, so the two cannot drift apart (its learning rate already includes the shards).
    """
    from samplenas.training.recipes import PUBLISHED

    recipe = PUBLISHED["nb101"]
    return {
        "train_data_files": [], "valid_data_file": "", "test_data_file": "", "sample_data_file": "",
        "data_format": "channels_last", "num_labels": 10,
        "module_vertices": NUM_VERTICES, "max_edges": MAX_EDGES, "available_ops": list(CANONICAL_OPS),
        "stem_filter_size": recipe.network["stem_channels"], "num_stacks": recipe.network["num_stacks"],
        "num_modules_per_stack": recipe.network["cells_per_stack"], "batch_size": recipe.batch_size,
        "train_epochs": recipe.epochs, "train_seconds": 4.0 * 60 * 60,
        "learning_rate": recipe.lr / TPU_NUM_SHARDS, "lr_decay_method": "COSINE_BY_STEP",
        "momentum": recipe.momentum, "weight_decay": recipe.weight_decay, "max_attempts": 5,
        "intermediate_evaluations": ["0.5"], "num_repeats": num_repeats,
        "use_tpu": True, "tpu_iterations_per_loop": 100, "tpu_num_shards": TPU_NUM_SHARDS,
    }


def table_path(dataset_file: str | os.PathLike) -> Path:
    """The HDF5 table for `dataset_file`: itself when it is one, else its conversion (made once, cached).

    The cache key is the source's name, size and modification time, so a replaced file converts anew.
    """
    path = Path(dataset_file).expanduser()
    if not path.is_file():
        raise UserError(f"{path}: no such file (the official nasbench_only108.tfrecord or nasbench_full.tfrecord, "
                        "a table from `samplenas nb101 convert`, or the shared npz)")
    if file_kind(path) == HDF5:
        return path
    stat = path.stat()
    cache = cache_root() / "nasbench101"
    table = cache / f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}.h5"
    if not table.exists():
        print(f"Converting {path.name} once into {table} (later loads open it in milliseconds)...")
        try:
            convert(path, table, progress=True)
        except NoRoom as err:
            raise NoRoom(f"{err}; $SAMPLENAS_CACHE names another cache folder") from None
    return table
