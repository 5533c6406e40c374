"""TFRecord framing and CRC32C, the run-time ModelMetrics descriptor and the NAS-Bench-101 row parser."""

import base64
import json
import math
import struct

import numpy as np
import pytest

from samplenas.benchmarks import tfrecord
from samplenas.benchmarks.nasbench101_records import ModelMetrics, parse_record
from samplenas.benchmarks.tfrecord import crc32c, iter_records, masked
from samplenas.errors import UserError


def frame(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked(crc32c(length))) + payload + struct.pack("<I", masked(crc32c(payload)))


def test_crc32c_matches_published_check_values():
    # RFC 3720 appendix B.4 and the CRC catalogue's check value for "123456789".
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"") == 0


def test_masking_matches_the_tfrecord_formula():
    for crc in (0, 1, 0xE3069283, 0xFFFFFFFF):
        expected = ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
        assert masked(crc) == expected


def test_reads_every_record_of_the_official_layout_sample(nb101_tfrecord_path, nb101_sample_records):
    records = list(iter_records(nb101_tfrecord_path))
    assert len(records) == nb101_sample_records
    offsets = [offset for offset, _ in records]
    assert offsets[0] == 0
    assert offsets[1] == 16 + len(records[0][1])
    assert offsets[-1] + 16 + len(records[-1][1]) == nb101_tfrecord_path.stat().st_size


def test_records_across_read_buffer_boundaries(tmp_path, monkeypatch, rng):
    payloads = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (5, 0, 700, 3, 2500, 40)]
    path = tmp_path / "small.tfrecord"
    path.write_bytes(b"".join(frame(p) for p in payloads))
    monkeypatch.setattr(tfrecord, "_READ_BYTES", 64)
    assert [p for _, p in iter_records(path)] == payloads


def test_flipped_payload_byte_names_the_record_offset(tmp_path, nb101_tfrecord_path):
    data = bytearray(nb101_tfrecord_path.read_bytes())
    offsets = [offset for offset, _ in iter_records(nb101_tfrecord_path)]
    middle = offsets[len(offsets) // 2]
    data[middle + 40] ^= 0x01
    path = tmp_path / "flipped.tfrecord"
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=f"byte offset {middle}: payload checksum"):
        list(iter_records(path))


def test_flipped_length_byte_is_caught_before_reading_the_payload(tmp_path, nb101_tfrecord_path):
    data = bytearray(nb101_tfrecord_path.read_bytes())
    offsets = [offset for offset, _ in iter_records(nb101_tfrecord_path)]
    data[offsets[3] + 6] ^= 0x80  # would claim a payload of petabytes
    path = tmp_path / "flipped.tfrecord"
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=f"length checksum mismatch at byte offset {offsets[3]}"):
        list(iter_records(path))


def test_truncated_file_names_the_offset_of_the_cut_record(tmp_path, nb101_tfrecord_path):
    data = nb101_tfrecord_path.read_bytes()
    offsets = [offset for offset, _ in iter_records(nb101_tfrecord_path)]
    path = tmp_path / "cut.tfrecord"
    path.write_bytes(data[:offsets[-2] + 20])
    with pytest.raises(UserError, match=f"truncated record at byte offset {offsets[-2]}"):
        list(iter_records(path))


def test_other_file_types_and_missing_files_are_user_errors(tmp_path, nb101_npz_path):
    with pytest.raises(UserError, match="not a TFRecord file.*byte offset 0"):
        list(iter_records(nb101_npz_path))
    with pytest.raises(UserError, match="no such file"):
        list(iter_records(tmp_path / "absent.tfrecord"))
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    assert list(iter_records(empty)) == []


HASH = "00005c142e6f48ac74fdcf73e3439874"


def row(metrics: bytes) -> bytes:
    return json.dumps([HASH, 108, "0100", "input,output", base64.b64encode(metrics).decode()]).encode()


def test_the_runtime_descriptor_reads_the_official_field_numbers():
    # Hand-encoded per model_metrics.proto: evaluation_data = 1 (message), trainable_parameters = 2
    # (int32 varint), total_time = 3 (double); inside EvaluationData, test_accuracy = 5 (double).
    evaluation = b"\x29" + struct.pack("<d", 0.75)
    message = (b"\x0a\x00" * 2 + b"\x0a" + bytes([len(evaluation)]) + evaluation + b"\x10\x96\x01"
               + b"\x19" + struct.pack("<d", 9.5) + b"\x25\x00\x00\x80\x3f")  # unknown field 4 is skipped
    metrics = ModelMetrics.FromString(message)
    assert metrics.trainable_parameters == 150 and metrics.total_time == 9.5
    assert len(metrics.evaluation_data) == 3 and metrics.evaluation_data[2].test_accuracy == 0.75
    assert ModelMetrics.FromString(b"\x10" + b"\xff" * 9 + b"\x01").trainable_parameters == -1
    assert ModelMetrics.DESCRIPTOR.full_name == "nasbench.ModelMetrics"


def test_unset_fields_and_missing_evaluations_become_nan_and_zeros_stay_zero():
    metrics = ModelMetrics()
    metrics.evaluation_data.add(current_epoch=0.0)
    metrics.evaluation_data.add(test_accuracy=0.0)  # halfway: an explicit 0 is a value
    record = parse_record(row(metrics.SerializeToString()))
    halfway, final = record.values[:4], record.values[4:]
    assert halfway[3] == 0.0 and all(math.isnan(v) for v in halfway[:3])
    assert all(math.isnan(v) for v in final)  # no final evaluation at all
    assert math.isnan(record.trainable_parameters)
    metrics.trainable_parameters = 0
    assert parse_record(row(metrics.SerializeToString())).trainable_parameters == 0.0


@pytest.mark.parametrize("message", [b"\x10\x96", b"\x0a\x05\x09", b"\x0f", b"\x0a\x01\xff"])
def test_malformed_protobuf_is_a_value_error_naming_model_metrics(message):
    with pytest.raises(ValueError, match="not a base64 ModelMetrics protobuf"):
        parse_record(row(message))


def test_first_sample_record_decodes_to_known_values_with_unset_fields_as_nan(nb101_tfrecord_path):
    _, payload = next(iter_records(nb101_tfrecord_path))
    record = parse_record(payload)
    assert record.module_hash == "00005c142e6f48ac74fdcf73e3439874"
    assert record.epochs == 108 and record.num_vertices == 7
    assert record.trainable_parameters == 8555530
    values = dict(zip(["halfway_time", "halfway_train", "halfway_val", "halfway_test",
                       "time", "train", "val", "test"], record.values))
    assert values["test"] == 0.9211738705635071
    assert values["val"] == 0.9304887652397156
    assert values["time"] == 1768.9759521484375
    assert math.isnan(values["train"]) and math.isnan(values["halfway_test"])  # unset in the file, not 0
    assert record.ops.tolist() == [-1, 0, 2, 0, 0, 1, -2]


@pytest.mark.parametrize("payload, problem", [
    (b"not json", "not JSON"),
    (b'["x", 108, "01", "input,output", ""]', "32 hex"),
    (b'["00005c142e6f48ac74fdcf73e3439874", 108, "010", "input,output", ""]', "square"),
    (b'["00005c142e6f48ac74fdcf73e3439874", 108, "0100", "input,conv5x5", ""]', "unknown operation"),
    (b'["00005c142e6f48ac74fdcf73e3439874", 108, "0100", "input,output", "@@@"]', "base64"),
])
def test_bad_rows_say_what_is_wrong(payload, problem):
    with pytest.raises(ValueError, match=problem):
        parse_record(payload)
