"""tools/make_test_fixtures.py: the committed fixtures are exactly what it makes from the full data sets."""

from pathlib import Path

import pytest

from tests.tools.tool_loader import load_tool

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "tests" / "fixtures" / "data"


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.full_data()
def test_rebuilt_fixtures_are_byte_identical_to_the_committed_ones(data_dir, tmp_path, capsys):
    assert load_tool("make_test_fixtures").main(["--data", str(data_dir), "--out", str(tmp_path)]) == 0
    rebuilt, committed = files(tmp_path), files(COMMITTED)
    assert sorted(rebuilt) == sorted(committed)
    assert [name for name in rebuilt if rebuilt[name] != committed[name]] == []
    assert sum(map(len, committed.values())) < 1_000_000  # tiny: they live in the repository


def test_a_missing_source_is_one_line_and_writes_nothing(tmp_path, capsys):
    tool = load_tool("make_test_fixtures")
    assert tool.main(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err and "--data" in err
    assert not (tmp_path / "out").exists()
