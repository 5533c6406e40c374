"""`disk_space`: the room a file needs is checked before it is written, and a write that fills the disk
is one line that says where, leaving neither the file nor its temporary."""

from __future__ import annotations

import errno

import pytest

from samplenas import disk_space
from samplenas.disk_space import NoRoom, check_room, size_text, write_bytes_atomically


def test_sizes_read_short():
    assert [size_text(n) for n in (0, 999, 1000, 16_384, 2_500_000, 3 * 10**9, 7 * 10**12)] == [
        "0 B", "999 B", "1.0 kB", "16.4 kB", "2.5 MB", "3.0 GB", "7.0 TB"]


def test_the_room_is_checked_where_the_file_goes(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda path: asked.append(path) or
                        type("Usage", (), {"free": 2000})())
    check_room(tmp_path / "new" / "folder", 2000, "a table")  # enough: nothing raised
    with pytest.raises(NoRoom, match=f"no room for a table at {tmp_path}/new: it needs at least 2.0 kB, 2.0 kB free"):
        check_room(tmp_path / "new", 2001, "a table")
    assert asked == [tmp_path, tmp_path]  # the nearest folder that exists


def test_a_write_that_fails_with_a_full_disk_leaves_nothing(tmp_path, monkeypatch):
    class FullDisk:
        def __init__(self, path, mode):
            self.path = path
            open(path, mode).close()  # the temporary exists when the disk fills

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(disk_space, "open", FullDisk, raising=False)
    with pytest.raises(NoRoom) as err:
        write_bytes_atomically(b"x" * 5000, tmp_path / "table.h5", "the table")
    assert str(err.value) == (f"cannot write the table at {tmp_path / 'table.h5'}: No space left on device "
                              "(needs 5.0 kB; the partial file was removed)")
    assert list(tmp_path.iterdir()) == []


def test_a_real_disk_filling_up_mid_write(small_filesystem, monkeypatch):
    folder = small_filesystem("16k")
    with pytest.raises(NoRoom, match=f"no room for the table at {folder}: it needs at least 100.0 kB, 16.4 kB free"):
        write_bytes_atomically(b"x" * 100_000, folder / "table.h5", "the table")
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: 10**12)  # past the check: the write meets the full disk
    with pytest.raises(NoRoom, match="No space left on device"):
        write_bytes_atomically(b"x" * 100_000, folder / "table.h5", "the table")
    assert list(folder.iterdir()) == []
    write_bytes_atomically(b"y" * 1000, folder / "small", "a small file")
    assert (folder / "small").read_bytes() == b"y" * 1000 and [p.name for p in folder.iterdir()] == ["small"]
