"""Streaming TFRecord reader without TensorFlow, checking both masked CRC32C sums of every record.

A record is: uint64 little-endian payload length, masked CRC32C of those 8 bytes, the payload,
masked CRC32C of the payload (format as written by TensorFlow's `tf.io.TFRecordWriter`).
CRC32C has no C implementation in the standard library, so it is computed with numpy for a whole
batch of records at once: one table step per byte position across the batch, which costs the same
Python overhead for 4,096 records as for one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from samplenas.errors import UserError

_POLY = 0x82F63B78  # CRC32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8
_HEADER = 12  # length (8) + its crc (4)
_FOOTER = 4
_BATCH_RECORDS = 4096
_READ_BYTES = 1 << 22


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


_TABLE = _crc_table()
_TABLE_LIST = _TABLE.tolist()


def _zeros_state(length: int) -> np.ndarray:
    """State after feeding 0..length zero bytes into a register that starts at 0xFFFFFFFF."""
    states = np.empty(length + 1, dtype=np.uint32)
    state = 0xFFFFFFFF
    for i in range(length + 1):
        states[i] = state
        state = int(_TABLE[state & 0xFF]) ^ (state >> 8)
    return states


_zero_states = _zeros_state(4096)


def crc32c_batch(chunks: list[bytes]) -> np.ndarray:
    """CRC32C of each byte string, computed together.

    CRC is linear: crc(init, data) = crc(init, zeros(len)) ^ crc(0, data), and leading zero bytes
    leave a zero register at zero. So every chunk is right-aligned into one zero-padded matrix,
    the zero-start register runs over all columns at once, and the init term is looked up by length.
    """
    global _zero_states
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    width = int(lengths.max()) if len(chunks) else 0
    if width >= len(_zero_states):
        _zero_states = _zeros_state(2 * width)
    padded = np.zeros((len(chunks), width), dtype=np.uint8)
    for row, chunk in enumerate(chunks):
        padded[row, width - len(chunk):] = np.frombuffer(chunk, dtype=np.uint8)
    state = np.zeros(len(chunks), dtype=np.uint32)
    for column in padded.T:
        state = _TABLE[(state ^ column) & 0xFF] ^ (state >> 8)
    return state ^ _zero_states[lengths] ^ np.uint32(0xFFFFFFFF)


def crc32c(data: bytes) -> int:
    """CRC32C of one short byte string, one table step per byte (the 8-byte length fields)."""
    state = 0xFFFFFFFF
    for byte in data:
        state = _TABLE_LIST[(state ^ byte) & 0xFF] ^ (state >> 8)
    return state ^ 0xFFFFFFFF


def masked(crc):
    """TFRecord's masking of a CRC (rotate right by 15, add a constant); works on ints and uint32 arrays."""
    if isinstance(crc, np.ndarray):
        crc = crc.astype(np.uint64)
        rotated = ((crc >> np.uint64(15)) | (crc << np.uint64(17))) & np.uint64(0xFFFFFFFF)
        return ((rotated + np.uint64(_MASK_DELTA)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def iter_records(path: str | Path, progress=None) -> Iterator[tuple[int, bytes]]:
    """Yield (byte offset, payload) for each record, after checking both checksums.

    Memory stays bounded by one read buffer plus one batch of records. `progress` (optional) is
    called with the number of bytes consumed. Raises UserError naming the byte offset of the first
    truncated or corrupt record; records before it have been yielded by then.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    batch: list[tuple[int, bytes, int]] = []
    buffer, base = b"", 0  # base = file offset of buffer[0]
    with path.open("rb") as stream:
        while True:
            more = stream.read(_READ_BYTES)
            buffer += more
            pos = 0
            while len(buffer) - pos >= _HEADER:
                length_bytes = buffer[pos:pos + 8]
                (length, length_crc) = struct.unpack_from("<QI", buffer, pos)
                if masked(crc32c(length_bytes)) != length_crc:
                    raise UserError(f"{path}: not a TFRecord file, or corrupt: length checksum mismatch "
                                    f"at byte offset {base + pos}")
                end = pos + _HEADER + length + _FOOTER
                if end > len(buffer):
                    break
                (payload_crc,) = struct.unpack_from("<I", buffer, end - _FOOTER)
                batch.append((base + pos, buffer[pos + _HEADER:end - _FOOTER], payload_crc))
                pos = end
                if len(batch) >= _BATCH_RECORDS:
                    yield from _checked(path, batch)
                    batch = []
            buffer, base = buffer[pos:], base + pos
            if progress is not None and pos:
                progress(pos)
            if not more:
                break
    yield from _checked(path, batch)
    if buffer:
        raise UserError(f"{path}: truncated record at byte offset {base} (the file ends {len(buffer)} bytes into it)")


def _checked(path: Path, batch: list[tuple[int, bytes, int]]) -> Iterator[tuple[int, bytes]]:
    if not batch:
        return
    sums = masked(crc32c_batch([payload for _, payload, _ in batch]))
    for (offset, payload, expected), actual in zip(batch, sums.tolist()):
        if actual != expected:
            raise UserError(f"{path}: corrupt record at byte offset {offset}: payload checksum mismatch")
        yield offset, payload
