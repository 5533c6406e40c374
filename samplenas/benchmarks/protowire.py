"""A minimal protocol-buffer wire-format decoder, enough to read NAS-Bench-101's `ModelMetrics`
without the protobuf runtime or generated code.

A schema maps field numbers to (name, kind), kind one of "double", "int32", "string" or a nested
schema (dict) for a message. Repeated fields are those whose name ends in "[]"; they decode to lists.
Fields absent from the bytes are absent from the result, so "unset" stays distinguishable from 0
(proto2 semantics, which the official file uses). Unknown fields are skipped, as protobuf does.
"""

from __future__ import annotations

import struct

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
_WIRE_OF_KIND = {"double": FIXED64, "int32": VARINT, "string": LENGTH_DELIMITED}


class WireFormatError(ValueError):
    """The bytes are not a valid encoding of the message."""


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at `pos`; return (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise WireFormatError("varint runs past the end of the message")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise WireFormatError("varint longer than 10 bytes")


def decode(data: bytes, schema: dict) -> dict:
    """Decode one message into a dict of field name -> value (lists for repeated fields)."""
    out: dict = {}
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            raw, pos = read_varint(data, pos)
        elif wire == FIXED64:
            raw, pos = data[pos:pos + 8], pos + 8
        elif wire == LENGTH_DELIMITED:
            size, pos = read_varint(data, pos)
            raw, pos = data[pos:pos + size], pos + size
        elif wire == FIXED32:
            raw, pos = data[pos:pos + 4], pos + 4
        else:
            raise WireFormatError(f"unsupported wire type {wire} for field {number}")
        if pos > end:
            raise WireFormatError(f"field {number} runs past the end of the message")
        if number not in schema:
            continue
        name, kind = schema[number]
        expected = LENGTH_DELIMITED if isinstance(kind, dict) else _WIRE_OF_KIND[kind]
        if wire != expected:
            raise WireFormatError(f"field {number} ({name}) has wire type {wire}, expected {expected}")
        value = _convert(raw, kind)
        if name.endswith("[]"):
            out.setdefault(name[:-2], []).append(value)
        else:
            out[name] = value
    return out


def _convert(raw, kind):
    if isinstance(kind, dict):
        return decode(raw, kind)
    if kind == "double":
        return struct.unpack("<d", raw)[0]
    if kind == "int32":  # negative int32 values are sign-extended to 64 bits on the wire
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WireFormatError(f"string field is not UTF-8: {err}") from None
