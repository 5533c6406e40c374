"""Run folders of the population commands (`evolve`, `pbt`, `dnc`): whose run a folder holds, whether
`--out` can be written at all, and strict readers of the files a `--resume` continues from.

Rules (issue 25), all checked before any file is created, changed or removed:

* `--out` must be a folder or a name a folder can be made at: not a file, not a dangling symbolic
  link, no name longer than the file system allows, inside a writable folder;
* a folder that holds a run of another command (`train`, `retrain`, another population command) is
  refused, with or without `--resume`/`--overwrite`; a run of the command's own kind needs `--resume`
  (continue it) or `--overwrite` (replace it: its files are removed only once the new run's inputs
  were validated and the folder is locked, `training.rundir.remove_run`);
* the file system of `--out` has some room (`RUN_FLOOR`): a full disk is refused before the run starts;
* a resume reads every file it will use completely first (`read_log`, `read_result`): a damaged middle
  line of `evaluations.jsonl` is an error naming the file and line, never a silent truncation.

While a command writes it holds `training.rundir.RunDir` (an exclusive lock: a second process on the
same `--out` is refused, and a failure before the first kept file removes what the run created).
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import numpy as np

from samplenas.disk_space import check_room
from samplenas.errors import UserError
from samplenas.training.rundir import check_path_names

# format strings of the files each command writes (kept equal to the writers' constants; a test checks)
FORMATS = {
    "samplenas-evolve-2": "evolve", "samplenas-evolve-1": "evolve", "samplenas-evolve-result-1": "evolve",
    "samplenas-pbt-1": "pbt", "samplenas-dnc-1": "dnc", "samplenas-retrain-1": "retrain",
    "samplenas-supernet-1": "train",
}
# files that mark a folder as some command's run, and the command when the name alone tells
MARKERS = {"pbt_state.json": "pbt", "members": "pbt", "checkpoint.pt": None, "config.json": "train",
           "summary.json": "train", "top.json": "train", "rank.json": "train", "checkpoints": "train",
           "supernets": "train"}
DESCRIBE = {"evolve": "an evolve search", "pbt": "a PBT run", "dnc": "a DnC search", "train": "a supernet (train) run",
            "retrain": "a retrain run", "unknown": "a run of unknown kind"}
RAY_LOG = "ray.log"  # Ray's reports of lost workers during a run (`ray_messages`), written only when there are some
# free bytes below which a run is refused before it starts (its smallest state, log and result files take
# tens of kB; the checkpoints of larger runs more, and a write that finds the disk full later is one line too)
RUN_FLOOR = 1_000_000
# errors of a write that the user can act on (space, permissions, names): one line, never a traceback
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG, errno.EFBIG)


def check_out_path(out: Path) -> None:
    """UserError unless a run folder can exist at `out` (nothing is created)."""
    text = str(out)
    if not text or not text.strip():
        raise UserError("--out must name a folder, got ''")
    check_path_names(out)
    walked = Path(out.anchor) if out.is_absolute() else Path()
    for part in out.parts[1 if out.is_absolute() else 0:]:
        if part == ".." and not walked.is_dir():  # the OS refuses it; mkdir(parents=True) would create it
            raise UserError(f"--out {out}: {walked} does not exist, so '..' after it leads nowhere")
        walked = walked / part
    if out.is_symlink() and not out.exists():
        raise UserError(f"--out {out} is a symbolic link to {os.readlink(out)}, which does not exist")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    parent = out
    while not parent.exists():
        if parent.is_symlink():
            raise UserError(f"--out {out}: {parent} is a symbolic link to a missing folder")
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"--out {out}: {parent} is a file, not a folder")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: {parent} is not writable")


def _format_of(path: Path) -> str | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    fmt = value.get("format")
    if fmt is None and isinstance(value.get("fingerprint"), dict):
        fmt = value["fingerprint"].get("format")
    if fmt is None and isinstance(value.get("meta"), dict):
        fmt = value["meta"].get("format")
    return fmt if isinstance(fmt, str) else None


def _log_kind(path: Path) -> str:
    """The command of an evaluations.jsonl, from its first line's fields."""
    try:
        with open(path, "rb") as f:
            first = json.loads(f.readline())
    except (OSError, ValueError, RecursionError):
        return "unknown"
    if not isinstance(first, dict):
        return "unknown"
    if "slot" in first and "round" in first:
        return "pbt"
    if "net" in first and "hyper" in first:
        return "dnc"
    if "arch_ints" in first:
        return "evolve"
    return "unknown"


def run_kind(out: Path) -> tuple[str, str] | None:
    """(command, file that tells) of the run in `out`, or None when it holds none. The command is
    evolve, pbt, dnc, train, retrain or "unknown" (a run file samplenas cannot read)."""
    if not out.is_dir():
        return None
    for name in ("state.json", "pbt_state.json", "result.json"):
        path = out / name
        if path.exists():
            return FORMATS.get(_format_of(path) or "", "unknown"), name
    for name, kind in MARKERS.items():
        if (out / name).exists():
            if kind is None:  # checkpoint.pt: train writes config.json beside it, retrain result.json
                kind = "train" if (out / "config.json").exists() else "retrain"
            return kind, name
    if (out / "evaluations.jsonl").exists():
        return _log_kind(out / "evaluations.jsonl"), "evaluations.jsonl"
    return None


def check_out(out: Path, kind: str, resume: bool, own_files: tuple[str, ...] = (), overwrite: bool = False) -> None:
    """UserError unless `out` can take a `kind` run (a new one; with `resume` its own run continued;
    with `overwrite` its own run replaced, or a new one where there is none).

    own_files: the command's own state files; a damaged one is left to the resume's reader, which
    says what is wrong with it."""
    if resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    check_out_path(out)
    check_room(out, RUN_FLOOR, f"{DESCRIBE[kind]} (its state, log and result)")
    found = run_kind(out)
    if found is None:
        if resume:
            raise UserError(f"{out} holds no {kind} run: nothing to resume")
        return
    held, marker = found
    if held == kind:
        if not (resume or overwrite):
            raise UserError(f"{out} already holds {DESCRIBE[kind]} ({marker}); pass --resume to continue it, "
                            "--overwrite to replace it, or choose another --out")
        return
    if held == "unknown" and resume and marker in own_files:
        return
    raise UserError(f"{out} holds {DESCRIBE[held]} ({marker}), not {DESCRIBE[kind]}; choose another --out "
                    "(a run of another command is never written into)")


# --- strict readers of a run's files (a resume reads them completely before it changes anything) --------
def read_log(path: Path, required: tuple[str, ...] = ("key", "fitness", "metrics")) -> tuple[list[dict], int]:
    """(records, bytes of complete lines) of an evaluations.jsonl. Only the last line may be torn
    (no newline, or not JSON: a kill mid-write); it is dropped. Any other bad line is a UserError
    naming the file and the line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as err:
        raise UserError(f"{path}: cannot be read ({err.strerror})") from None
    lines = raw.splitlines(keepends=True)
    records: list[dict] = []
    good = 0
    keys: set[str] = set()
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        try:
            record = json.loads(line) if line.endswith(b"\n") else None
        except (ValueError, RecursionError):
            record = None
        if record is None and last:
            break  # a torn last line
        problem = _record_problem(record, required, keys)
        if problem:
            raise UserError(f"{path} line {number}: {problem}; the log is damaged (restore it, or start the "
                            "search again in another --out)")
        records.append(record)
        keys.add(record["key"])
        good += len(line)
    return records, good


def _record_problem(record, required: tuple[str, ...], keys: set[str]) -> str | None:
    if record is None:
        return "not a JSON line"
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [name for name in required if name not in record]
    if missing:
        return f"no {missing[0]!r}"
    if not isinstance(record["key"], str):
        return "'key' is not a string"
    if "fitness" in required and not (record["fitness"] is None or (isinstance(record["fitness"], int | float)
                                                                    and not isinstance(record["fitness"], bool))):
        return "'fitness' is not a number"
    if "metrics" in required and not isinstance(record["metrics"], dict):
        return "'metrics' is not an object"
    if record["key"] in keys:
        return f"key {record['key']!r} appears twice"
    return None


def read_result(path: Path, fmt: str) -> dict | None:
    """A run's result.json when it exists (it must be a JSON object of format `fmt`), else None."""
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise UserError(f"{path} cannot be read ({str(err).splitlines()[0]}); move it away to resume") from None
    if not isinstance(value, dict) or value.get("format") != fmt:
        raise UserError(f"{path} is not this run's result (format {fmt}); move it away to resume")
    return value


def announce_finished(out: Path, search: str) -> None:
    """The one line a --resume of a finished run prints before handing back its result."""
    print(f"samplenas: {out} holds a finished {search} run: nothing left to do", file=sys.stderr)


def write_error(err: OSError, out: Path) -> UserError:
    """One line for a write that failed (a full disk, a read-only file system, ...)."""
    where = err.filename or out
    reason = os.strerror(err.errno) if err.errno else str(err)
    hint = "; free some space and --resume" if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return UserError(f"cannot write {where}: {reason}{hint}")


def check_generator_state(state, damaged) -> None:
    """A saved NumPy Generator state must load into this NumPy's default bit generator; `damaged(text)`
    makes the error that names the state file."""
    probe = np.random.default_rng()
    try:
        if not isinstance(state, dict) or state.get("bit_generator") != type(probe.bit_generator).__name__:
            raise ValueError(f"a {state.get('bit_generator') if isinstance(state, dict) else state!r} generator")
        probe.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise damaged(f"'rng' is not a {type(probe.bit_generator).__name__} state ({err})") from None
