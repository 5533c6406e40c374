"""What kind of NAS-Bench-101 file a path holds, told by its first bytes (never by its name).

One sniffer for the loader (which names the wrong kind in its error), the converter (npz or
tfrecord) and the official-API shim (a table to open, or a source to convert first).
"""

from __future__ import annotations

from pathlib import Path

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NPZ_MAGIC = b"PK\x03\x04"  # a zip archive, as numpy writes .npz
HDF5, NPZ, OTHER = "hdf5", "npz", "other"  # OTHER: a tfrecord, or not a benchmark file at all


def file_kind(path: str | Path) -> str:
    """HDF5, NPZ or OTHER, from the file's signature (reads 8 bytes)."""
    with Path(path).open("rb") as stream:
        head = stream.read(len(HDF5_MAGIC))
    if head == HDF5_MAGIC:
        return HDF5
    return NPZ if head.startswith(NPZ_MAGIC) else OTHER
