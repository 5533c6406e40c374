"""Shared fixtures.

Data: the full data sets in ../shared/data (or $SAMPLENAS_DATA) when that folder holds all of them;
otherwise the tiny cuts of them in tests/fixtures/data (built by tools/make_test_fixtures.py, same
formats and layout). Tests marked `full_data` need the full sets and skip without them, naming the
files to fetch and where to put them (tests/fixtures/README.md says where to get each).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SAMPLENAS_DATA", REPO.parent / "shared" / "data"))
FIXTURE_DATA = REPO / "tests" / "fixtures" / "data"
# Each full data set: (its files under the data folder, what it is, how a skip names it when all are missing).
# Where to get them: tests/fixtures/README.md.
IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")
FULL_SETS = {
    "mnist": (tuple(f"mnist/{f}" for f in IDX_FILES), "MNIST (60k/10k)", "mnist/ (its four idx .gz files)"),
    "fashion-mnist": (tuple(f"fashion-mnist/{f}" for f in IDX_FILES), "Fashion-MNIST (60k/10k)",
                      "fashion-mnist/ (its four idx .gz files)"),
    "cifar10-jpeg": (("cifar10-jpeg/cifar10_jpeg_q75.tar.gz",), "CIFAR-10 as JPEG (60k images)", None),
    "nb101": (("nasbench101/nb101_table_repeat0.npz",), "NAS-Bench-101 table (423,624 cells)", None),
    "nb101-sample": (("nasbench101/nb101_sample_1k.tfrecord",), "NAS-Bench-101 1k-record tfrecord", None),
}
MISSING = {name: [f for f in files if not (SHARED_DATA / f).is_file()] for name, (files, _, _) in FULL_SETS.items()}
FULL = not any(MISSING.values())  # the full folder is used only when complete: one source per session
DATA_DIR = SHARED_DATA if FULL else FIXTURE_DATA
# The cuts in FIXTURE_DATA named otherwise than the full file they stand in for (the others keep its name).
CUT_NAMES = {"nasbench101/nb101_table_repeat0.npz": "nasbench101/nb101_table_sample.npz",
             "nasbench101/nb101_sample_1k.tfrecord": "nasbench101/nb101_sample_200.tfrecord"}


def in_data_dir(full_name: str) -> Path:
    """The file of DATA_DIR that a full data set's file `full_name` is, or its cut."""
    return DATA_DIR / (full_name if FULL else CUT_NAMES.get(full_name, full_name))


NB101_NPZ = in_data_dir("nasbench101/nb101_table_repeat0.npz")
NB101_TFRECORD = in_data_dir("nasbench101/nb101_sample_1k.tfrecord")
NB101_SAMPLE_RECORDS = 1000 if FULL else 200  # records in NB101_TFRECORD (the first cell is the same in both)

torch.set_num_threads(1)


def _missing_files(name: str) -> list[str]:
    """The files of data set `name` absent from SHARED_DATA, as a skip message names them."""
    files, _, all_of_them = FULL_SETS[name]
    return [all_of_them] if all_of_them and len(MISSING[name]) == len(files) else MISSING[name]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook turns group marks into scheduling groups
def pytest_collection_modifyitems(config, items):
    """Scheduling units for pytest-xdist (`--dist loadgroup`): every test that needs Ray runs in one worker,
    so a session still starts a single Ray instance; the other tests of a file stay together, so a file's
    module-scoped fixtures (trained runs, exports) are built once rather than once per worker.

    Tests marked `full_data(*sets)` skip, naming the files to fetch, unless the full data folder is in use."""
    for item in items:
        uses_ray = "ray_local" in getattr(item, "fixturenames", ())
        item.add_marker(pytest.mark.xdist_group("ray" if uses_ray else item.nodeid.split("::")[0]))
    if FULL:
        return
    for item in items:
        marker = item.get_closest_marker("full_data")
        if marker is None:
            continue
        needed = marker.args or tuple(FULL_SETS)
        unknown = [name for name in needed if name not in FULL_SETS]
        if unknown:
            raise pytest.UsageError(f"full_data: unknown data set {unknown[0]!r}; known: {', '.join(FULL_SETS)}")
        lacking = [shown for name in needed for shown in _missing_files(name)]
        others = [shown for name in FULL_SETS if name not in needed for shown in _missing_files(name)]
        where = (f"put {', '.join(lacking)} under {SHARED_DATA}" if lacking else
                 f"{SHARED_DATA} has it, but the tests read that folder only when it holds every full set, "
                 f"and it lacks {', '.join(others)}")
        what = ", ".join(FULL_SETS[name][1] for name in needed)
        item.add_marker(pytest.mark.skip(reason=f"needs the full {what}: {where} (or set SAMPLENAS_DATA; "
                                                f"tests/fixtures/README.md says where to get each set)"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The data folder: the full sets when present, the tiny fixtures otherwise (same layout)."""
    return DATA_DIR


@pytest.fixture(scope="session")
def data_dir_full_names(tmp_path_factory) -> Path:
    """The data folder under the full sets' file names, for examples written for a user's full folder
    (`data/nasbench101/nb101_table_repeat0.npz`): the full folder itself, or a folder of links to the
    fixtures in which each full name points at its cut."""
    if FULL:
        return DATA_DIR
    folder = tmp_path_factory.mktemp("data")
    links = {str(p.relative_to(FIXTURE_DATA)): p for p in FIXTURE_DATA.rglob("*") if p.is_file()}
    links.update({full: FIXTURE_DATA / cut for full, cut in CUT_NAMES.items()})
    for name, target in links.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(target)
    return folder


@pytest.fixture(scope="session")
def full_data() -> bool:
    """Whether `data_dir` holds the full data sets (False: the tiny fixtures)."""
    return FULL


@pytest.fixture(scope="session")
def nb101_npz_path() -> Path:
    """The NB101 npz table: all 423,624 cells, or the fixtures' few hundred (same columns)."""
    return NB101_NPZ


@pytest.fixture(scope="session")
def nb101_npz(nb101_npz_path):
    with np.load(nb101_npz_path, allow_pickle=False) as table:
        return {name: table[name] for name in table.files}


@pytest.fixture(scope="session")
def nb101_tfrecord_path() -> Path:
    """A NB101 tfrecord in the official layout: the 1k-record sample, or its first 200 records."""
    return NB101_TFRECORD


@pytest.fixture(scope="session")
def nb101_sample_records() -> int:
    """How many records `nb101_tfrecord_path` holds (one per cell)."""
    return NB101_SAMPLE_RECORDS


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _wait_for_the_next_second() -> None:
    now = int(time.time())
    while int(time.time()) == now:
        time.sleep(0.05)


@pytest.fixture
def next_second():
    """A function that waits for the wall clock's next second. TensorBoard reads a folder's event files in name
    order, and a name is the second its writer opened, then host, pid and a per-process writer counter that
    sorts as text (writer 10 before writer 9): writers opened in distinct seconds are read in the order they
    were opened, as an interrupted run and its resume (two processes) open theirs."""
    return _wait_for_the_next_second


@pytest.fixture(scope="session")
def nb101_table(nb101_npz_path, tmp_path_factory) -> Path:
    """`nb101_npz_path` converted once per session to the HDF5 table `NASBench101` reads."""
    from samplenas.benchmarks.nasbench101_convert import convert

    path = tmp_path_factory.mktemp("nb101") / "nb101_repeat0.h5"
    convert(nb101_npz_path, path, progress=False)
    return path


@pytest.fixture(autouse=True)
def _no_private_ray(request):
    """A test that starts Ray by itself (not through `ray_local`) would start a second instance: refuse it."""
    import sys

    def running() -> bool:
        return "ray" in sys.modules and sys.modules["ray"].is_initialized()

    before = running()
    yield
    if not before and "ray_local" not in request.fixturenames and running():
        pytest.fail("this test started Ray itself; take the session's `ray_local` fixture instead")


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance shared by every test that needs Ray (start-up is paid once per session).

    Fixed at 2 CPUs, no dashboard, usage stats off. The temp dir is short and under /tmp because Ray's
    unix socket paths must stay below 107 characters. Every worker process lists the paths it opens
    in the folder $SAMPLENAS_AUDIT_OPENS names (`worker_opens`). Yields the `ray` module.
    """
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    if ray.is_initialized():  # someone else owns it; never start a second Ray
        yield ray
        return
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    from samplenas.population.engine import AUDIT_OPENS

    os.environ[AUDIT_OPENS] = tempfile.mkdtemp(prefix="opens", dir=temp_dir)  # the workers inherit it
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, logging_level="ERROR",
             log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def worker_opens(ray_local):
    """`worker_opens() -> set[Path]`: the paths Ray worker processes opened since this test started;
    `worker_opens.installed()`: whether the audit hook runs in the workers at all."""
    from samplenas.population.engine import AUDIT_OPENS

    if AUDIT_OPENS not in os.environ:
        pytest.fail(f"Ray was started without ${AUDIT_OPENS}: worker opens cannot be audited")
    folder = Path(os.environ[AUDIT_OPENS])

    def sizes() -> dict[Path, int]:
        return {path: path.stat().st_size for path in folder.glob("*.opens")}

    before = sizes()

    def opened() -> set[Path]:
        paths = set()
        for path in folder.glob("*.opens"):
            with open(path, encoding="utf-8") as f:
                f.seek(before.get(path, 0))
                paths.update(Path(line.rstrip("\n")) for line in f if line.strip())
        return paths

    # the hook is installed when workers have listed anything this session (a warm worker that imported
    # everything earlier and receives its data by reference may open nothing during a test)
    opened.installed = lambda: any(path.stat().st_size for path in folder.glob("*.opens"))
    return opened


@pytest.fixture(scope="session")
def measure_latency_table():
    """`measure_latency_table(space, network, path) -> (path, LatencyModel)`: a real table of `network`
    measured on this CPU by `samplenas latency measure`, with the fewest timings that still fit a scale
    (what a budget test needs: the real file, not how good its numbers are)."""
    import json

    from samplenas.cli import main
    from samplenas.hardware import LatencyModel

    def measure(space: str, network: dict, path: Path):
        argv = ["latency", "measure", "--space", space, "--network", json.dumps(network), "--warmup", "0",
                "--repeats", "2", "--rounds", "1", "--calibrate", "3", "--threads", "1", "-o", str(path)]
        assert main(argv) == 0
        return path, LatencyModel.load(path)

    return measure


# --- the CLI contract for bad input (issue 14): boundary and fuzz tests ----------------------------
def _snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` with a digest of its content (folders: "dir")."""
    import hashlib

    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def small_filesystem(tmp_path):
    """`small_filesystem(size) -> Path`: an empty folder on a file system of `size` ("16k": a tmpfs mounted
    for this test, unmounted after it), to fill a disk for real. Mounting needs root: skips, saying so,
    where it is not permitted."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"small{len(mounted)}"
        folder.mkdir()
        _mount_tmpfs(folder, f"size={size},mode=0777", f"a small ({size}) file system")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        _unmount(folder)


def _mount_tmpfs(folder: Path, options: str, what: str) -> None:
    """A tmpfs mounted at `folder` with `options`; the test skips, saying why, where that is not permitted."""
    import subprocess

    if shutil.which("mount") is None:
        pytest.skip(f"no `mount` command: {what} cannot be made here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"mounting {what} is not permitted here (needs root): {done.stderr.strip()}")


def _unmount(folder: Path) -> None:
    import subprocess

    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def read_only_folder(tmp_path):
    """`read_only_folder() -> Path`: an empty folder no one may write into, root included. Others get a
    folder without write permission; root writes through permissions, so root gets a tmpfs mounted
    read-only (unmounted after the test). Skips, saying so, only where neither can be made."""
    made: list[Path] = []
    as_root = os.geteuid() == 0

    def make() -> Path:
        folder = tmp_path / f"read-only{len(made)}"
        folder.mkdir()
        if as_root:
            _mount_tmpfs(folder, "ro,size=16k", "a read-only file system (root writes through permissions)")
        else:
            folder.chmod(0o555)
        made.append(folder)
        return folder

    yield make
    for folder in made:
        if as_root:
            _unmount(folder)
        else:
            folder.chmod(0o755)


@pytest.fixture
def refused(capsys):
    """`refused(argv, root, expected=None) -> stderr`: runs `samplenas argv` in-process and asserts the
    contract: exit status 2, one or two stderr lines, no traceback, nothing under `root` created,
    changed or removed (and `expected` in the message, if given)."""
    from samplenas.cli import main

    def run(argv, root: Path, expected: str | None = None) -> str:
        capsys.readouterr()
        before = _snapshot(root)
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code == 2, (code, err)
        assert "Traceback" not in err and 0 < len(err.strip().splitlines()) <= 2, err
        assert err.startswith("samplenas"), err
        assert _snapshot(root) == before, f"files changed by {argv}: {err}"
        assert expected is None or expected in err, err
        return err

    return run


def _tfrecord_frame(payload: bytes) -> bytes:
    """One TFRecord frame: length, its masked CRC32C, payload, the payload's masked CRC32C."""
    import struct

    from samplenas.benchmarks.tfrecord import crc32c, masked

    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked(crc32c(length))) + payload + struct.pack("<I", masked(crc32c(payload)))


@pytest.fixture(scope="session")
def tfrecord_frame():
    """The function framing a payload as one TFRecord record."""
    return _tfrecord_frame


@pytest.fixture(scope="session")
def nb101_rows(nb101_tfrecord_path) -> list[list]:
    """The first six rows of the official-layout sample, as JSON lists."""
    import json

    from samplenas.benchmarks.tfrecord import iter_records

    return [json.loads(payload) for _, payload in list(iter_records(nb101_tfrecord_path))[:6]]


@pytest.fixture(scope="session")
def nb101_small_table(nb101_rows, tmp_path_factory) -> Path:
    """A six-cell HDF5 table converted from a tfrecord of `nb101_rows` (fast to copy and damage)."""
    import json

    from samplenas.benchmarks.nasbench101_convert import convert

    source = tmp_path_factory.mktemp("nb101_small") / "small.tfrecord"
    source.write_bytes(b"".join(_tfrecord_frame(json.dumps(row).encode()) for row in nb101_rows))
    convert(source, source.with_suffix(".h5"), progress=False)
    return source.with_suffix(".h5")


# --- resumable population runs made by hand (issue 25): no Ray, no training ----------------------------
POPULATION_ARGV = {
    "evolve": ["evolve", "--data", "digits", "--limit", "96", "--batch-size", "32", "--population", "3",
               "--epochs-per-candidate", "1", "--max-layers", "3", "--reductions", "1", "--seed", "3",
               "--generations", "2", "--quiet"],
    "pbt": ["pbt", "--space", "autoencoder", "--data", "digits", "--epochs", "2", "--step-epochs", "1", "-N", "4",
            "--tau", "0.5", "--batch-size", "32", "--task", "denoising", "--limit", "120", "--quiet",
            "--network", '{"max_layers": 2, "num_reductions": 1}'],
    "dnc": ["dnc", "--quiet"],  # a DnC resume takes the run's saved settings
}


def _population_files(kind: str, tmp: Path) -> dict[str, bytes]:
    """{name: bytes} of a valid run of `kind` stopped after its first checkpoint, as the command writes it."""
    import json

    import numpy as np

    from samplenas.strict_json import dumps

    line = {"fitness": 0.5, "metrics": {"val": {}}, "wall_s": 1.0, "node": "n", "node_id": "i", "pid": 1,
            "attempts": 1, "finished_at": 0.0}
    files: dict[str, bytes] = {}
    if kind == "evolve":
        from samplenas.cli import build_parser
        from samplenas.cli.evolve import _network
        from samplenas.population.evolve import SearchState, initial_population
        from samplenas.population.evolve_job import EvolveJob, prepare

        args = build_parser().parse_args([*POPULATION_ARGV["evolve"], "--out", str(tmp / "probe")])
        prepared = prepare(EvolveJob(space=args.space, data=args.data, out=args.out, seed=args.seed,
                                     population=args.population, generations=args.generations,
                                     epochs_per_candidate=args.epochs_per_candidate, reductions=args.reductions,
                                     max_layers=args.max_layers, network=_network(args),
                                     recipe={"batch_size": args.batch_size}, limit=args.limit))
        rng = np.random.default_rng(args.seed)
        population = initial_population(prepared.space, args.population, rng)
        records = {}
        for arch in population:
            key = prepared.space.key(arch)
            records[key] = {**line, "key": key, "arch": prepared.space.to_str(arch), "arch_ints": list(arch),
                            "generation": 0}
        state = SearchState(1, population, dict(rng.bit_generator.state), records)
        files["state.json"] = dumps(state.to_json(prepared.config)).encode()
        files["evaluations.jsonl"] = "".join(dumps(r, sort_keys=True) + "\n" for r in records.values()).encode()
        files["result.json"] = json.dumps({"format": "samplenas-evolve-result-1", "top": []}).encode()
    elif kind == "pbt":
        from samplenas import errors
        from samplenas.cli import main
        from samplenas.population import pbt

        seen = []

        def stop(self):
            seen.append(self)
            raise errors.UserError("stopped")

        real = pbt.PBTRun.run
        pbt.PBTRun.run = stop
        try:
            main([*POPULATION_ARGV["pbt"], "--out", str(tmp / "probe")])
        finally:
            pbt.PBTRun.run = real
        run = seen[0]
        rng = np.random.default_rng(0)
        members = [{"slot": s, "arch": list(run.space.sample(rng)), "start": run.member_file(s, 0, "start"),
                    "born": 0, "parents": None} for s in range(run.job.population)]
        state = {"fingerprint": pbt.fingerprint(run.job, run.settings), "round": 0, "members": members,
                 "history": [], "rng": rng.bit_generator.state, "elapsed_s": 0.0}
        files["pbt_state.json"] = dumps(state).encode()
        for member in members:
            files[member["start"]] = b"member weights"
        files["evaluations.jsonl"] = "".join(dumps({**line, "key": f"r0000/s{s:03d}", "round": 0, "slot": s},
                                                   sort_keys=True) + "\n" for s in range(2)).encode()
        files["result.json"] = json.dumps({"format": "samplenas-pbt-1", "best": {}}).encode()
    elif kind == "dnc":
        from samplenas.population.dnc_settings import settings_from

        settings = settings_from({"model": "mlp", "epochs": 1, "evaluations": 3, "limit": 96})
        files["state.json"] = dumps({"format": "samplenas-dnc-1", "settings": settings.to_dict(), "transfer": None,
                                     "stage": "1", "evaluations": {"1": 2}, "command": []}).encode()
        files["evaluations.jsonl"] = "".join(dumps({**line, "key": f"dnc-{i}", "stage": "1", "net": {}, "hyper": {},
                                                    "mode": "train"}, sort_keys=True) + "\n"
                                             for i in range(3)).encode()
        files["result.json"] = json.dumps({"format": "samplenas-dnc-1", "best": {}}).encode()
    return files


@pytest.fixture(scope="session")
def population_argv():
    """{kind: argv without --out} of the small runs `population_files` builds."""
    return {kind: list(words) for kind, words in POPULATION_ARGV.items()}


@pytest.fixture(scope="session")
def population_files(tmp_path_factory):
    """`population_files(kind) -> {name: bytes}`: the files of a valid resumable evolve/pbt/dnc run
    (built once per kind, without Ray); write them, damage one, and `--resume` must refuse."""
    cache: dict[str, dict[str, bytes]] = {}

    def files(kind: str) -> dict[str, bytes]:
        if kind not in cache:
            cache[kind] = _population_files(kind, tmp_path_factory.mktemp(kind))
        return dict(cache[kind])

    return files


@pytest.fixture
def stop_population_at_ray(monkeypatch):
    """Replace the population commands' Ray start by a UserError("validated"): a run whose every input
    passed validation stops there, before it trains or changes anything (fuzz and resume tests)."""
    from contextlib import contextmanager

    from samplenas.errors import UserError
    from samplenas.population import engine

    @contextmanager
    def validated(*args, **kwargs):
        raise UserError("validated")
        yield  # pragma: no cover

    monkeypatch.setattr(engine, "ray_runtime", validated)  # the driver session of every search starts Ray here


@pytest.fixture(scope="session")
def write_run():
    """`write_run(folder, files) -> folder`: writes {name: bytes} (names may have sub-folders)."""
    def write(folder: Path, files: dict[str, bytes]) -> Path:
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return folder

    return write
