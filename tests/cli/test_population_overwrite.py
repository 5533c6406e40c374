"""`evolve`, `pbt` and `dnc --overwrite`: the run of the command's own kind in `--out` is replaced, and
only once every input of the new run was checked; a run of another command is refused as without the
flag; `--resume` and `--overwrite` exclude each other. No Ray and no training: the Ray start is stubbed."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from samplenas.errors import UserError

ARGV = {  # small runs of each command (without --out); dnc needs its settings when not resuming
    "dnc": ["dnc", "--model", "mlp", "--data", "digits", "--epochs", "1", "--evaluations", "3", "--limit", "96",
            "--quiet"],
}
# files a finished run has beyond those `population_files` makes (figures, TensorBoard)
EXTRA = {"evolve": ("fitness.png", "denoised.png", "tensorboard/events.out"),
         "pbt": ("lineage.png", "tensorboard/events.out"), "dnc": ("objective.png", "tb/events.out")}
OTHER_KIND = {"evolve": "pbt", "pbt": "dnc", "dnc": "evolve"}


@pytest.fixture
def command(population_argv):
    """command(kind, out, *extra) -> argv of a small new run of `kind` into `out`."""
    return lambda kind, out, *extra: [*ARGV.get(kind, population_argv[kind]), "--out", str(out), *extra]


@pytest.fixture
def finished(population_files, write_run):
    """finished(kind, folder) -> folder holding a run of `kind` with its figures and TensorBoard files,
    and a file of the user's own that --overwrite must leave alone."""
    def make(kind: str, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        files = {**population_files(kind), **{name: b"old" for name in EXTRA[kind]}, "notes.txt": b"mine"}
        return write_run(folder, files)

    return make


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["evolve", "pbt", "dnc"])
def test_overwrite_never_replaces_a_run_of_another_command(kind, tmp_path, command, finished, refused):
    out = finished(OTHER_KIND[kind], tmp_path / "run")
    refused(command(kind, out, "--overwrite"), tmp_path, "choose another --out")


@pytest.mark.parametrize("kind", ["evolve", "pbt", "dnc"])
def test_overwrite_and_resume_exclude_each_other(kind, tmp_path, command, finished, refused):
    out = finished(kind, tmp_path / "run")
    refused(command(kind, out, "--overwrite", "--resume"), tmp_path, "--resume and --overwrite exclude each other")


@pytest.mark.parametrize("kind", ["evolve", "pbt", "dnc"])
def test_without_overwrite_the_message_names_it(kind, tmp_path, command, finished, refused):
    out = finished(kind, tmp_path / "run")
    refused(command(kind, out), tmp_path, "--overwrite to replace it")


@pytest.mark.parametrize("kind", ["evolve", "pbt", "dnc"])
def test_nothing_is_removed_before_every_input_was_checked(kind, tmp_path, command, finished, refused,
                                                           stop_population_at_ray):
    """A bad flag is refused with the old run intact; valid flags reach the Ray start (stubbed) with the
    old run intact too: its files go only once the new run has its workers."""
    out = finished(kind, tmp_path / "run")
    refused(command(kind, out, "--overwrite", "--limit", "0"), tmp_path, "--limit")
    refused(command(kind, out, "--overwrite"), tmp_path, "validated")


@contextmanager
def _no_ray(*args, **kwargs):
    yield SimpleNamespace(cpus=1, address="local", owned=True)


def _stop(*args, **kwargs):
    raise UserError("stopped after the old run was removed")


@pytest.mark.parametrize("kind", ["evolve", "pbt", "dnc"])
def test_overwrite_removes_the_old_run_and_only_it(kind, tmp_path, command, finished, monkeypatch, capsys):
    """Past validation and the Ray start, the old run's files and folders are gone before the new run
    writes its first file; a file of the user's own in the folder stays."""
    from samplenas.cli import main
    from samplenas.population import dnc, engine, pbt

    monkeypatch.setattr(engine, "ray_runtime", _no_ray)  # where every search's driver session starts Ray
    monkeypatch.setattr(engine, "Engine", _stop)  # the first thing evolve does after the removal
    monkeypatch.setattr(pbt.PBTRun, "_start", _stop)
    monkeypatch.setattr(dnc, "ResultsLog", _stop)
    out = finished(kind, tmp_path / "run")
    assert main(command(kind, out, "--overwrite")) == 2
    assert "stopped after the old run was removed" in capsys.readouterr().err
    assert snapshot(out) == {"notes.txt": b"mine"}
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # no empty folder (members/, tb/) left


def test_overwrite_of_a_new_folder_is_a_new_run(tmp_path, command, refused, stop_population_at_ray):
    """--overwrite where there is no run is no error: the run starts as without it."""
    refused(command("evolve", tmp_path / "new", "--overwrite"), tmp_path, "validated")


def test_the_finished_fixture_is_a_run_its_command_recognises(tmp_path, finished):
    from samplenas.population.rundir import run_kind

    for kind in ("evolve", "pbt", "dnc"):
        out = finished(kind, tmp_path / kind)
        assert run_kind(out)[0] == kind
        assert json.loads((out / "result.json").read_text())  # the old result the overwrite must remove
