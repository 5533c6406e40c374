"""Run directories: one writer at a time, no surprise overwrites, nothing half-made left behind.

`check_run_dir` is the cheap up-front test (before any data is loaded): `--out` must not name a file,
its parent must be writable, and a directory that already holds a run needs `resume` or `overwrite`.
`RunDir` is the context manager a command holds while it writes: it creates the directory, takes an
exclusive lock (`fcntl.flock` on `OUT/.lock`, which the kernel releases when the process dies, so a
lock left by a killed run is stale and simply taken over; the file names the holder's pid for the
refusal message), removes the temporary files of writes that a kill interrupted, and on failure
removes what this invocation created if the directory still holds no checkpoint (no partial output).

API for other writers (population searches): ::

    check_run_dir(out, markers=("result.json",), resume=args.resume, overwrite=args.overwrite)
    ... validate everything else ...
    with RunDir(out, keep=("checkpoint.pt",)) as run:   # refuses if another process holds OUT
        ... write files under out ...
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

from samplenas.errors import UserError

LOCK = ".lock"


def check_run_dir(out: str | os.PathLike, markers: tuple[str, ...], resume: bool = False,
                  overwrite: bool = False) -> None:
    """UserError unless `out` can take this run; creates and deletes nothing.

    markers: files whose presence means OUT already holds a run (e.g. checkpoint.pt, result.json).
    """
    out = Path(out)
    if resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a directory")
    parent = out if out.is_dir() else _existing_parent(out)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: {parent} is not writable")
    held = [name for name in markers if (out / name).exists()]
    if held and not (resume or overwrite):
        raise UserError(f"{out} already holds a run ({held[0]}); pass --resume to continue it, "
                        "--overwrite to replace it, or choose another --out")


NAME_MAX = 255  # bytes per path component on every common file system
PATH_MAX = 4095


def check_path_names(path: str | os.PathLike, flag: str = "--out") -> None:
    """UserError if a component of `path` or the whole of it is longer than file systems allow
    (the OS would refuse it only at the first write, as a traceback)."""
    path = Path(path)
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise UserError(f"{flag}: the name {part[:40]!r}... is longer than the file system allows "
                            f"({NAME_MAX} bytes)")
    if len(os.fsencode(str(path.absolute()))) > PATH_MAX:
        raise UserError(f"{flag}: the path is longer than the file system allows ({PATH_MAX} bytes)")


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"--out {path}: {parent} is a file, not a directory")
            return parent
    return Path("/")


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete `.NAME.*.tmp` files of atomic writes a kill interrupted (only safe under the lock)."""
    removed = []
    for tmp in [*out.glob(".*.tmp"), *out.glob("*/.*.tmp")]:
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _holder(lock: Path) -> str:
    try:
        return lock.read_text().strip() or "another process"
    except OSError:
        return "another process"


class RunDir:
    """Exclusive ownership of a run directory for the lifetime of the `with` block (see module doc)."""

    def __init__(self, out: str | os.PathLike, keep: tuple[str, ...] = ("checkpoint.pt",),
                 writer: bool | None = None):
        """writer: whether this process writes OUT (default: rank 0 under torchrun, else yes);
        the other ranks of a distributed run neither lock nor clean up."""
        self.out = Path(out)
        self.keep = keep
        self.writer = os.environ.get("RANK", "0") == "0" if writer is None else writer
        self._fd: int | None = None
        self._created_dir = False
        self._before: set[Path] = set()

    def __enter__(self) -> RunDir:
        self.acquire()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if self.writer and kind is not None and not any((self.out / name).exists() for name in self.keep):
                self._remove_new_files()
        finally:
            self.release()

    def acquire(self) -> None:
        if not self.writer:
            return
        try:
            self._created_dir = not self.out.exists()
            self.out.mkdir(parents=True, exist_ok=True)
            self._before = set(self.out.rglob("*"))
            self._lock()
        except OSError as err:
            if self._created_dir:
                shutil.rmtree(self.out, ignore_errors=True)
            if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
                raise UserError(f"cannot write to {self.out}: {os.strerror(err.errno)}") from None
            raise
        remove_stale_temporaries(self.out)

    def _lock(self) -> None:
        path = self.out / LOCK
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise UserError(f"{self.out} is in use by {_holder(path)} (lock {path}); "
                                "wait for it to finish or choose another --out") from None
            try:  # the holder before us may have unlinked the file between our open and flock: retry
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {os.uname().nodename}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        (self.out / LOCK).unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None
        if self._created_dir and self.out.is_dir() and not any(self.out.iterdir()):
            self.out.rmdir()

    def _remove_new_files(self) -> None:
        """Undo this invocation's output: files and folders that were not there before it started."""
        new = sorted((p for p in self.out.rglob("*") if p not in self._before and p.name != LOCK),
                     key=lambda p: len(p.parts), reverse=True)
        for path in new:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def remove_run(out: str | os.PathLike, files: tuple[str, ...], folders: tuple[str, ...]) -> None:
    """--overwrite: the previous run's files and folders (called once the new run's inputs were validated)."""
    out = Path(out)
    for name in files:
        (out / name).unlink(missing_ok=True)
    for name in folders:
        shutil.rmtree(out / name, ignore_errors=True)
