"""tools/bench_members.py: one `train --members K` against K separate `train` commands, the same supernets."""

import pytest

from tests.tools.tool_loader import load_tool


@pytest.mark.slow
def test_smoke_times_both_ways_and_finds_the_same_supernets(tmp_path, capsys):
    bench = load_tool("bench_members")
    assert bench.main(["--smoke", "--out", str(tmp_path / "bench")]) == 0
    out = capsys.readouterr().out
    assert "same supernets bitwise: True" in out and "separate / one command:" in out
    assert (tmp_path / "bench" / "ensemble" / "supernets" / "1" / "checkpoint.pt").exists()


def test_bad_flags_are_refused(tmp_path):
    bench = load_tool("bench_members")
    with pytest.raises(SystemExit):
        bench.main(["--out", str(tmp_path), "--members", "1"])
    assert not any(tmp_path.iterdir())
