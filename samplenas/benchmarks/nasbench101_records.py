"""Rows of the official NAS-Bench-101 tfrecord: `[module_hash, epochs, raw_adjacency,
raw_operations, raw_metrics]` JSON, with `raw_metrics` a base64 `ModelMetrics` protobuf.

`ModelMetrics` is decoded by the `protobuf` runtime from a descriptor built here at import time,
with the field numbers and types of the official `nasbench/lib/model_metrics.proto` (proto2), in a
private descriptor pool so it cannot clash with the official package's generated module.
`evaluation_data` holds the evaluations at the start, halfway point and end of training, in that
order; the official API reads entries 1 and 2. A field absent from the bytes (proto2 `HasField`
false) becomes NaN, never the 0 protobuf would report.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from samplenas.spaces.nasbench101 import CANONICAL_OPS, INPUT, NUM_VERTICES, OUTPUT

_FIELD = descriptor_pb2.FieldDescriptorProto
# (number, name, type) of the official messages; every field is `optional` unless marked repeated.
EVALUATION_DATA = (
    (1, "current_epoch", _FIELD.TYPE_DOUBLE),
    (2, "training_time", _FIELD.TYPE_DOUBLE),
    (3, "train_accuracy", _FIELD.TYPE_DOUBLE),
    (4, "validation_accuracy", _FIELD.TYPE_DOUBLE),
    (5, "test_accuracy", _FIELD.TYPE_DOUBLE),
    (6, "checkpoint_path", _FIELD.TYPE_STRING),
)
MODEL_METRICS = (
    (2, "trainable_parameters", _FIELD.TYPE_INT32),
    (3, "total_time", _FIELD.TYPE_DOUBLE),
)


def _model_metrics_class():
    """The `nasbench.ModelMetrics` message class, from a FileDescriptorProto built field by field."""
    proto = descriptor_pb2.FileDescriptorProto(name="samplenas/nasbench_model_metrics.proto", package="nasbench",
                                               syntax="proto2")
    evaluation = proto.message_type.add(name="EvaluationData")
    for number, name, kind in EVALUATION_DATA:
        evaluation.field.add(name=name, number=number, type=kind, label=_FIELD.LABEL_OPTIONAL)
    metrics = proto.message_type.add(name="ModelMetrics")
    metrics.field.add(name="evaluation_data", number=1, type=_FIELD.TYPE_MESSAGE, label=_FIELD.LABEL_REPEATED,
                      type_name=".nasbench.EvaluationData")
    for number, name, kind in MODEL_METRICS:
        metrics.field.add(name=name, number=number, type=kind, label=_FIELD.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench.ModelMetrics"))


ModelMetrics = _model_metrics_class()

# Per-evaluation metrics the official API reports, and which evaluation_data entry is which stage.
METRICS = ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
STAGES = {"halfway": 1, "final": 2}
METRIC_COLUMNS = tuple(f"{stage}_{metric}" for stage in STAGES for metric in METRICS)

# Op codes in tables (as in the shared npz): index into CANONICAL_OPS, or one of these.
INPUT_CODE, OUTPUT_CODE, PADDING_CODE = -1, -2, -3
_OP_CODES = {INPUT: INPUT_CODE, OUTPUT: OUTPUT_CODE, **{op: i for i, op in enumerate(CANONICAL_OPS)}}
_OP_NAMES = {code: name for name, code in _OP_CODES.items()}


@dataclass(frozen=True)
class Record:
    """One training run of one cell, as stored in the official file."""

    module_hash: str
    epochs: int
    adjacency: np.ndarray  # uint8 (NUM_VERTICES, NUM_VERTICES), zero-padded
    ops: np.ndarray  # int8 (NUM_VERTICES,) op codes, PADDING_CODE past the last vertex
    num_vertices: int
    trainable_parameters: float  # NaN when unset
    values: tuple[float, ...]  # one per METRIC_COLUMNS, NaN when unset


def parse_record(payload: bytes) -> Record:
    """Decode one tfrecord payload; raises ValueError saying what is wrong with it."""
    try:
        row = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"payload is not JSON ({err})") from None
    if not (isinstance(row, list) and len(row) == 5):
        raise ValueError("payload is not a 5-element JSON list [hash, epochs, adjacency, operations, metrics]")
    module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = row
    if not (isinstance(module_hash, str) and len(module_hash) == 32):
        raise ValueError(f"module hash {module_hash!r} is not 32 hex characters")
    if not (isinstance(epochs, int) and epochs > 0):
        raise ValueError(f"epochs {epochs!r} is not a positive integer")
    adjacency, num_vertices = _parse_adjacency(raw_adjacency)
    ops = _parse_ops(raw_operations, num_vertices)
    try:
        metrics = ModelMetrics.FromString(base64.b64decode(raw_metrics, validate=True))
    except (binascii.Error, TypeError, DecodeError) as err:
        raise ValueError(f"metrics are not a base64 ModelMetrics protobuf ({err})") from None
    evaluations = metrics.evaluation_data
    values = tuple(
        _get(evaluations[index], metric) if index < len(evaluations) else math.nan
        for index in STAGES.values()
        for metric in METRICS
    )
    return Record(module_hash, epochs, adjacency, ops, num_vertices, _get(metrics, "trainable_parameters"), values)


def _get(message, name: str) -> float:
    """A scalar field as float; NaN when the bytes did not set it (protobuf itself would say 0)."""
    return float(getattr(message, name)) if message.HasField(name) else math.nan


def _parse_adjacency(raw) -> tuple[np.ndarray, int]:
    if not isinstance(raw, str) or set(raw) - {"0", "1"}:
        raise ValueError("adjacency is not a string of 0/1 digits")
    n = math.isqrt(len(raw))
    if n * n != len(raw) or not 2 <= n <= NUM_VERTICES:
        raise ValueError(f"adjacency has {len(raw)} digits, not the square of a vertex count in 2..{NUM_VERTICES}")
    padded = np.zeros((NUM_VERTICES, NUM_VERTICES), dtype=np.uint8)
    padded[:n, :n] = np.frombuffer(raw.encode("ascii"), dtype=np.uint8).reshape(n, n) - ord("0")
    return padded, n


def _parse_ops(raw, num_vertices: int) -> np.ndarray:
    names = raw.split(",") if isinstance(raw, str) else []
    if len(names) != num_vertices:
        raise ValueError(f"{len(names)} operations for {num_vertices} vertices")
    unknown = [name for name in names if name not in _OP_CODES]
    if unknown:
        raise ValueError(f"unknown operation {unknown[0]!r}")
    codes = np.full(NUM_VERTICES, PADDING_CODE, dtype=np.int8)
    codes[:num_vertices] = [_OP_CODES[name] for name in names]
    return codes


def op_names(codes: np.ndarray, num_vertices: int) -> list[str]:
    """Official op labels of a table row (inverse of the op coding)."""
    return [_OP_NAMES[int(code)] for code in codes[:num_vertices]]
