"""`samplenas nb101 convert/query/stats`: results, JSON output, one-line errors, nothing half-written."""

import json

import pytest

from samplenas.cli import main

FIRST_HASH = "00005c142e6f48ac74fdcf73e3439874"
# The first cell of the sample, as rows of its adjacency and its ops (short names).
FIRST_MATRIX = "0100110,0010000,0001001,0000010,0000010,0000001,0000000"
FIRST_OPS = "input,conv3x3,maxpool3x3,conv3x3,conv3x3,conv1x1,output"


@pytest.fixture(scope="module")
def table(nb101_tfrecord_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "sample.h5"
    assert main(["nb101", "convert", str(nb101_tfrecord_path), "-o", str(path), "--quiet"]) == 0
    return path


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_query_by_spec_and_by_hash_agree(table, capsys):
    by_hash = run_json(capsys, ["nb101", "query", "--table", str(table), "--hash", FIRST_HASH, "--json"])
    by_spec = run_json(capsys, ["nb101", "query", "--table", str(table), "--matrix", FIRST_MATRIX,
                                "--ops", FIRST_OPS, "--json"])
    assert by_hash == by_spec
    assert by_hash["hash"] == FIRST_HASH and by_hash["trainable_parameters"] == 8555530
    assert by_hash["mean"]["test_accuracy"] == 0.9211738705635071
    assert by_hash["mean"]["train_accuracy"] is None  # missing, never 0
    assert len(by_hash["runs"]) == 1


def test_text_query_marks_missing_values(table, capsys):
    assert main(["nb101", "query", "--table", str(table), "--hash", FIRST_HASH]) == 0
    out = capsys.readouterr().out
    assert "0.9212" in out and "missing" in out and "8,555,530" in out


def test_stats_reports_cells_budgets_and_present_metrics(table, capsys, nb101_sample_records):
    stats = run_json(capsys, ["nb101", "stats", "--table", str(table), "--json"])
    assert stats["cells"] == nb101_sample_records and stats["budgets"] == [108]
    by_name = {s["metric"]: s for s in stats["metrics"]}
    assert by_name["final_test_accuracy"]["cells"] == nb101_sample_records
    assert by_name["final_train_accuracy"]["cells"] == 0 and by_name["final_train_accuracy"]["mean"] is None
    assert main(["nb101", "stats", "--table", str(table)]) == 0
    assert f"{nb101_sample_records:,} cells" in capsys.readouterr().out


def corrupt_variants(sample, npz):
    data = sample.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x04
    return {
        "flipped byte": (bytes(flipped), "byte offset"),
        "truncated": (data[:-100], "truncated record at byte offset"),
        "wrong file type": (b"\x89PNG\r\n\x1a\n" + bytes(64), "not a TFRecord file"),
        "broken npz": (npz.read_bytes()[:5000], "not a readable npz"),
    }


@pytest.mark.parametrize("case", ["flipped byte", "truncated", "wrong file type", "broken npz", "missing file"])
def test_bad_sources_give_one_line_and_leave_no_output(case, tmp_path, capsys, nb101_tfrecord_path,
                                                       nb101_npz_path):
    source = tmp_path / "source.bin"
    if case != "missing file":
        content, expected = corrupt_variants(nb101_tfrecord_path, nb101_npz_path)[case]
        source.write_bytes(content)
    else:
        expected = "no such file"
    output = tmp_path / "out" / "table.h5"
    assert main(["nb101", "convert", str(source), "-o", str(output), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("samplenas nb101 convert: error:") and expected in err
    leftovers = list(output.parent.iterdir()) if output.parent.exists() else []
    assert leftovers == []


def test_a_failed_convert_keeps_an_existing_table(table, tmp_path, capsys):
    source = tmp_path / "bad.tfrecord"
    source.write_bytes(b"garbage" * 10)
    before = table.read_bytes()
    assert main(["nb101", "convert", str(source), "-o", str(table), "--quiet"]) == 2
    assert table.read_bytes() == before


@pytest.mark.parametrize("argv, expected", [
    (["--hash", "f" * 32], "not in"),
    (["--matrix", "011,001", "--ops", "input,conv3x3,output"], "--matrix must be"),
    (["--matrix", "01,00", "--ops", "input,conv9x9"], "unknown op"),
    (["--matrix", "01,00"], "--matrix needs --ops"),
    (["--matrix", "010,000,000", "--ops", "input,conv3x3,output"], "does not reach"),
    (["--hash", FIRST_HASH, "--epochs", "12"], "epochs"),
])
def test_bad_queries_are_one_line_errors(table, capsys, argv, expected):
    assert main(["nb101", "query", "--table", str(table), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


def test_missing_table_is_a_one_line_error(tmp_path, capsys):
    assert main(["nb101", "stats", "--table", str(tmp_path / "none.h5")]) == 2
    assert "no such table" in capsys.readouterr().err
