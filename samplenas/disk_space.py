"""Free space on the file system a file is about to be written to, and one line when it runs out.

A full disk must end in a message that says where space ran out, never a traceback, a half-written
file or (as HDF5 does when its buffered writes fail) a crashed interpreter. Writers check the room
they need first, where that is cheap to know, and turn a failed write into `NoRoom` as well.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from samplenas.errors import UserError

OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class NoRoom(UserError):
    """Not enough free space (or quota) where a file is to be written."""


def size_text(size: int) -> str:
    """Bytes in the unit that keeps the number short (`1.5 MB`)."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def free_bytes(path: Path) -> int:
    """Free bytes (for this user) on the file system that holds `path` or, while it does not exist,
    its nearest existing folder."""
    existing = Path(path).absolute()
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def check_room(path: Path, needed: int, what: str) -> None:
    """NoRoom unless the file system of `path` has `needed` bytes free; `what` names what is written."""
    free = free_bytes(path)
    if free < needed:
        raise NoRoom(f"no room for {what} at {path}: it needs at least {size_text(needed)}, "
                     f"{size_text(free)} free there")


def write_bytes_atomically(data: bytes | memoryview, path: Path, what: str) -> None:
    """Write `data` to `path` through a temporary file beside it, then rename: a failure (the disk
    filled while writing, a read-only folder, ...) leaves neither `path` nor the temporary file."""
    check_room(path.parent, len(data), what)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else str(err)
        error = NoRoom if err.errno in OUT_OF_SPACE else UserError
        raise error(f"cannot write {what} at {path}: {reason} (needs {size_text(len(data))}; "
                    "the partial file was removed)") from None
    finally:
        temporary.unlink(missing_ok=True)
