"""Population searches pass data and member states by reference: the driver loads the data set once and
puts it into Ray's object store, PBT states travel as task arguments and results, and only the driver
writes the run folder. Proven with an audit hook on `open` in every Ray worker process (`worker_opens`)
and by a search whose data folder disappears after the driver loaded it and whose worker is killed."""

from __future__ import annotations

import json
import shutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from samplenas.population.dnc import DncSearch
from samplenas.population.dnc_settings import DncSettings
from samplenas.population.evolve_job import EvolveJob, run_evolve
from samplenas.population.pbt import PBTJob, PBTRun
from samplenas.training.recipes import resolve_recipe


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_folder(tmp_path) -> Path:
    """A small MNIST-format data folder of random 28x28 images (120 training, 40 test)."""
    folder = tmp_path / "data"
    (folder / "mnist").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 120), ("t10k", 40)):
        _write_idx(folder / "mnist" / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / "mnist" / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return folder


def _under(paths: set[Path], *roots: Path) -> list[Path]:
    resolved = [root.resolve() for root in roots]
    return sorted(p for p in paths if any(p.resolve().is_relative_to(root) for root in resolved))


def _pbt_job(out: Path, data_dir: Path, **changes) -> PBTJob:
    recipe = resolve_recipe("autoencoder", {"epochs": 2, "batch_size": 32, "task": "denoising",
                                            "network": {"max_layers": 2, "num_reductions": 1}})
    settings = dict(space="autoencoder", data="mnist", data_dir=str(data_dir), out=out, recipe=recipe, population=2,
                    step_epochs=1, method="random", limit=100, seed=3, progress=False)
    return PBTJob(**{**settings, **changes})


def test_evolve_workers_open_nothing_under_out_or_the_data(ray_local, worker_opens, mnist_folder, tmp_path):
    out = tmp_path / "evolve"
    run_evolve(EvolveJob(space="autoencoder", data="mnist", data_dir=str(mnist_folder), out=out, population=2,
                         generations=1, epochs_per_candidate=1, final_epochs=0, top=1, max_layers=2, reductions=1,
                         recipe={"batch_size": 32}, limit=100, progress=False, command=[]))
    records = (out / "evaluations.jsonl").read_text().splitlines()
    assert len(records) >= 2  # the population (and any new offspring), trained on workers
    assert worker_opens.installed(), "the audit hook recorded nothing: it is not installed in the workers"
    assert _under(worker_opens(), out, mnist_folder) == []


def test_pbt_workers_open_nothing_under_out_or_the_data(ray_local, worker_opens, mnist_folder, tmp_path):
    out = tmp_path / "pbt"
    PBTRun(_pbt_job(out, mnist_folder)).run()
    assert len((out / "evaluations.jsonl").read_text().splitlines()) == 4  # 2 members x 2 rounds
    assert sorted(p.name for p in (out / "members").iterdir()) == ["slot000.end0001.pt", "slot001.end0001.pt"]
    assert worker_opens.installed() and _under(worker_opens(), out, mnist_folder) == []


def test_dnc_workers_open_nothing_under_out_or_the_data(ray_local, worker_opens, mnist_folder, tmp_path):
    out = tmp_path / "dnc"
    settings = DncSettings(model="mlp", data="mnist", data_dir=str(mnist_folder), limit=100, epochs=1, evaluations=2,
                           pool=20, widths=[10, 30], mlp_drop_probs=[0.0])
    DncSearch(settings, out, progress=False).run()
    assert len((out / "evaluations.jsonl").read_text().splitlines()) >= 2
    assert worker_opens.installed() and _under(worker_opens(), out, mnist_folder) == []


def test_a_search_survives_its_data_folder_moving_away_and_a_killed_worker(ray_local, mnist_folder, tmp_path,
                                                                            kill_when_started):
    pid_file = tmp_path / "held.pid"
    run = PBTRun(_pbt_job(tmp_path / "pbt", mnist_folder,
                          hold={"key": "r0000/s001", "pid_file": str(pid_file), "seconds": 60}))
    shutil.move(mnist_folder, tmp_path / "moved")  # loaded by the driver already; workers must not need it
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("result", run.run()))
    thread.start()
    killed = kill_when_started(pid_file, thread.is_alive)  # the retry starts in a fresh worker, with no data folder
    thread.join(timeout=180)
    assert not thread.is_alive() and "result" in outcome
    records = [json.loads(line) for line in (tmp_path / "pbt" / "evaluations.jsonl").read_text().splitlines()]
    assert sorted(r["key"] for r in records) == ["r0000/s000", "r0000/s001", "r0001/s000", "r0001/s001"]
    rerun = next(r for r in records if r["key"] == "r0000/s001")
    assert rerun["pid"] != killed and rerun["attempts"] == 1  # re-run by Ray itself (max_retries)
    assert not mnist_folder.exists()
