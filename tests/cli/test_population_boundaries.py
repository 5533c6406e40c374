"""Issue 25: `evolve`, `pbt` and `dnc` at the boundary. Every case is one line on stderr, exit 2, no
traceback, and no file of an earlier run created, changed or removed (the `refused` fixture). All of
them fail before Ray starts, so the file runs in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samplenas import disk_space
from samplenas.cli import main
from samplenas.population.rundir import DESCRIBE

BIG = str(10**30)
EVOLVE = ["evolve", "--data", "digits", "--limit", "96", "--batch-size", "32", "--population", "3",
          "--epochs-per-candidate", "1", "--max-layers", "3", "--reductions", "1", "--seed", "3", "--generations",
          "2", "--quiet"]
PBT = ["pbt", "--space", "autoencoder", "--data", "digits", "--epochs", "2", "--step-epochs", "1", "-N", "4",
       "--tau", "0.5", "--batch-size", "32", "--task", "denoising", "--limit", "120", "--quiet",
       "--network", '{"max_layers": 2, "num_reductions": 1}']
DNC = ["dnc", "--model", "mlp", "--data", "digits", "--epochs", "1", "--evaluations", "3", "--limit", "96", "--quiet"]
COMMANDS = {"evolve": EVOLVE, "pbt": PBT, "dnc": DNC}


def argv(command: str, out, *extra) -> list[str]:
    if command == "dnc" and "--resume" in extra:  # a DnC resume takes the run's saved settings only
        return ["dnc", "--out", str(out), "--quiet", *extra]
    return [*COMMANDS[command], "--out", str(out), *extra]


# --- one-line argparse errors (the usage block stays in --help) -------------------------------------------
@pytest.mark.parametrize("command", ["evolve", "pbt", "dnc", "train", "retrain"])
@pytest.mark.parametrize("extra", [["--no-such-flag"], ["--seed", "x"], ["--out"]])
def test_argument_errors_are_one_line(command, extra, tmp_path, capsys):
    words = [command, "--out", str(tmp_path / "run"), *extra]
    assert main(words) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "usage:" not in err, err
    assert err.startswith(f"samplenas {command}: error: ")
    assert not (tmp_path / "run").exists()


def test_help_still_shows_the_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["evolve", "--help"])
    assert stop.value.code == 0 and "usage: samplenas evolve" in capsys.readouterr().out


# --- flag ranges: refused at the flag, before any work ------------------------------------------------------
@pytest.mark.parametrize("words, message", [
    (["--workers", BIG], "--workers must be at most"),
    (["--population", BIG], "--population must be at most"),
    (["--generations", BIG], "--generations must be at most"),
    (["--epochs-per-candidate", BIG], "--epochs-per-candidate must be at most"),
    (["--reductions", BIG], "--reductions must be at most"),
    (["--gpus-per-candidate", BIG], "--gpus-per-candidate must be at most"),
    (["--gpus-per-candidate", "nan"], "must be a finite number"),
    (["--threads-per-worker", "100000"], "at most 1024"),
    (["--network", "[" * 10_000 + "]" * 10_000], "nested deeper"),
    (["--network", '{"max_layers": NaN}'], "NaN"),
    (["--network", '{"max_layers": 1e400}'], "max_layers must be an integer"),
    (["--network", '{"max_layers": -2}'], "max_layers must be in 1.."),
    (["--network", '{"max_layers": true}'], "max_layers must be an integer"),
    (["--network", '{"max_layers": 2.0}'], "max_layers must be an integer"),
    (["--network", '{"max_layers": ' + "9" * 5000 + "}"], "--network"),
    (["--network", "[1]"], "expected a JSON object"),
])
def test_evolve_ranges(words, message, tmp_path, refused):
    refused(argv("evolve", tmp_path / "run", *words), tmp_path, message)


@pytest.mark.parametrize("words, message", [
    (["--workers", BIG], "--workers must be at most"),
    (["--population", BIG], "--population must be at most"),
    (["--epochs", BIG], "--epochs must be at most"),
    (["--step-epochs", BIG], "--step-epochs must be at most"),
])
def test_pbt_ranges(words, message, tmp_path, refused):
    refused(argv("pbt", tmp_path / "run", *words), tmp_path, message)


@pytest.mark.parametrize("words, message", [
    (["--workers", BIG], "--workers must be at most"),
    (["--epochs", BIG], "--epochs must be at most"),
    (["--layers", "1", BIG], "--layers must be at most"),
    (["--widths", "1", BIG], "--widths must be at most"),
    (["--batch", "1", BIG], "--batch must be at most"),
    (["--lr-log10", "nan", "-1"], "--lr-log10 must be a finite number"),
    (["--wd-log10", "-6", "nan"], "--wd-log10 must be a finite number"),
    (["--lr-log10", "-5", "400"], "--lr-log10 must be in"),
    (["--wd-log10", "-400", "-3"], "--wd-log10 must be in"),
    (["--evaluations", BIG], "--evaluations must be at most"),
    (["--pool", BIG], "--pool must be at most"),
])
def test_dnc_ranges(words, message, tmp_path, refused):
    refused(argv("dnc", tmp_path / "run", *words), tmp_path, message)


def test_dnc_config_ranges_match_the_flags(tmp_path, refused):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"layers": [0, 10**30]}))
    refused(["dnc", "--out", str(tmp_path / "run"), "--config", config], tmp_path, "layers must be at most")


def test_train_threads_have_an_upper_bound(tmp_path, refused):
    refused(["train", "--out", tmp_path / "run", "--threads", "1000000"], tmp_path, "at most 1024")


def test_dnc_prints_no_dependency_warning(tmp_path, capsys):
    """Importing botorch/gpytorch warns about torch.jit.script; the user sees only the one error line."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-W", "default", "-c", "import samplenas.population.dnc_kernel"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "FutureWarning" not in done.stderr, done.stderr


# --- output folders -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["evolve", "pbt", "dnc"])
def test_odd_output_folders(command, tmp_path, refused):
    root = tmp_path / "root"
    root.mkdir()
    (root / "file").write_text("x")
    dangling = tmp_path / "dangling"  # outside root: the snapshot reads every file under root
    dangling.symlink_to(root / "missing")
    refused(argv(command, ""), root, "expected a folder name")
    refused(argv(command, root / "file"), root, "is a file")
    refused(argv(command, root / "file" / "below"), root, "is a file")
    refused(argv(command, dangling), root, "symbolic link")
    assert dangling.is_symlink() and not (root / "missing").exists()
    refused(argv(command, root / ("n" * 300)), root, "longer than the file system allows")
    refused(argv(command, root / ("n" * 300) / "run"), root, "longer than the file system allows")


@pytest.mark.parametrize("command", ["evolve", "pbt", "dnc"])
def test_a_full_disk_is_refused_before_the_run_starts(command, small_filesystem, refused):
    disk = small_filesystem("64k")
    (disk / "filler").write_bytes(b"x" * 32_000)
    err = refused(argv(command, disk / "run"), disk, f"no room for {DESCRIBE[command]}")
    assert f"at {disk / 'run'}: it needs at least 1.0 MB" in err


@pytest.mark.parametrize("command", ["evolve", "pbt", "dnc"])
def test_a_full_disk_refuses_a_resume_too(command, tmp_path, monkeypatch, refused):
    out = _finished(tmp_path / "run", command)
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: 4096)
    refused(argv(command, out, "--resume"), tmp_path, f"no room for {DESCRIBE[command]} (its state, log and result) "
                                                      f"at {out}: it needs at least 1.0 MB, 4.1 kB free there")


@pytest.mark.parametrize("command", ["evolve", "pbt", "dnc"])
def test_read_only_parent(command, read_only_folder, refused):
    locked = read_only_folder()
    refused(argv(command, locked / "run"), locked, "not writable")


# --- another command's run is never written into -----------------------------------------------------------
def _finished(folder: Path, kind: str) -> Path:
    """A hand-made run folder of `kind` (only its marker files: they alone decide)."""
    folder.mkdir(parents=True)
    line = {"key": "k", "fitness": 1.0, "metrics": {}}
    if kind == "retrain":
        (folder / "result.json").write_text(json.dumps({"format": "samplenas-retrain-1", "test": {}}))
        (folder / "checkpoint.pt").write_bytes(b"weights")
    elif kind == "train":
        (folder / "config.json").write_text("{}")
        (folder / "checkpoint.pt").write_bytes(b"weights")
    elif kind == "evolve":
        (folder / "state.json").write_text(json.dumps({"format": "samplenas-evolve-1"}))
        (folder / "result.json").write_text(json.dumps({"format": "samplenas-evolve-result-1"}))
        (folder / "evaluations.jsonl").write_text(json.dumps({**line, "arch_ints": [1]}) + "\n")
    elif kind == "pbt":
        (folder / "pbt_state.json").write_text(json.dumps({"fingerprint": {"format": "samplenas-pbt-1"}}))
        (folder / "result.json").write_text(json.dumps({"format": "samplenas-pbt-1"}))
        (folder / "evaluations.jsonl").write_text(json.dumps({**line, "round": 0, "slot": 0}) + "\n")
    elif kind == "dnc":
        (folder / "state.json").write_text(json.dumps({"format": "samplenas-dnc-1"}))
        (folder / "result.json").write_text(json.dumps({"format": "samplenas-dnc-1"}))
    return folder


@pytest.mark.parametrize("command", ["evolve", "pbt", "dnc"])
@pytest.mark.parametrize("kind", ["retrain", "train", "evolve", "pbt", "dnc"])
def test_a_run_of_another_command_is_refused(command, kind, tmp_path, refused):
    out = _finished(tmp_path / "run", kind)
    if kind == command:
        refused(argv(command, out), tmp_path, "pass --resume to continue it")
        return
    refused(argv(command, out), tmp_path, "choose another --out")
    refused(argv(command, out, "--resume"), tmp_path, "choose another --out")


@pytest.mark.parametrize("command", ["evolve", "pbt", "dnc"])
def test_resume_of_nothing(command, tmp_path, refused):
    refused(argv(command, tmp_path / "run", "--resume"), tmp_path, "nothing to resume")
    (tmp_path / "empty").mkdir()
    refused(argv(command, tmp_path / "empty", "--resume"), tmp_path, "nothing to resume")
