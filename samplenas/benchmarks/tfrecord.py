"""Streaming TFRecord reader without TensorFlow, checking both masked CRC32C sums of every record.

A record is: uint64 little-endian payload length, masked CRC32C of those 8 bytes, the payload,
masked CRC32C of the payload (format as written by TensorFlow's `tf.io.TFRecordWriter`).
CRC32C comes from `google-crc32c` (the C implementation with hardware instructions where the CPU
has them), so checking costs a small fraction of parsing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import google_crc32c

from samplenas.errors import UserError

_MASK_DELTA = 0xA282EAD8
_HEADER = 12  # length (8) + its crc (4)
_FOOTER = 4
_READ_BYTES = 1 << 22


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli) of a byte string."""
    return google_crc32c.value(data)


def masked(crc: int) -> int:
    """TFRecord's masking of a CRC: rotate right by 15, add a constant (mod 2**32)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def iter_records(path: str | Path, progress=None) -> Iterator[tuple[int, bytes]]:
    """Yield (byte offset, payload) for each record, after checking both checksums.

    Memory stays bounded by one read buffer plus one record. `progress` (optional) is called with
    the number of bytes consumed. Raises UserError naming the byte offset of the first truncated
    or corrupt record; records before it have been yielded by then.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    buffer, base = b"", 0  # base = file offset of buffer[0]
    with path.open("rb") as stream:
        while True:
            more = stream.read(_READ_BYTES)
            buffer += more
            pos = 0
            while len(buffer) - pos >= _HEADER:
                (length, length_crc) = struct.unpack_from("<QI", buffer, pos)
                if masked(crc32c(buffer[pos:pos + 8])) != length_crc:
                    raise UserError(f"{path}: not a TFRecord file, or corrupt: length checksum mismatch "
                                    f"at byte offset {base + pos}")
                end = pos + _HEADER + length + _FOOTER
                if end > len(buffer):
                    break
                payload = buffer[pos + _HEADER:end - _FOOTER]
                (payload_crc,) = struct.unpack_from("<I", buffer, end - _FOOTER)
                if masked(crc32c(payload)) != payload_crc:
                    raise UserError(f"{path}: corrupt record at byte offset {base + pos}: payload checksum mismatch")
                yield base + pos, payload
                pos = end
            buffer, base = buffer[pos:], base + pos
            if progress is not None and pos:
                progress(pos)
            if not more:
                break
    if buffer:
        raise UserError(f"{path}: truncated record at byte offset {base} (the file ends {len(buffer)} bytes into it)")
