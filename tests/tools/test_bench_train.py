"""tools/bench_train.py refuses a bad flag in one line, before anything is trained or measured."""

import pytest

from tests.tools.tool_loader import load_tool


@pytest.mark.parametrize("argv, message", [
    (["--sampler-options", "{bad"], "--sampler-options: not valid JSON"),
    (["--sampler-options", "[1]"], "--sampler-options: expected a JSON object, got a list"),
    (["--sampler", "nosuch"], "unknown sampler 'nosuch'"),
])
def test_bad_flag_is_one_line(monkeypatch, capsys, argv, message):
    bench = load_tool("bench_train")
    monkeypatch.setattr("sys.argv", ["bench_train.py", "--steps", "1", "--spaces", "shufflenet", *argv])
    with pytest.raises(SystemExit) as exit_info:
        bench.main()
    text = str(exit_info.value.code)
    assert text.startswith("bench_train: ") and message in text and "\n" not in text
    assert "\nshufflenet" not in capsys.readouterr().out  # no row measured
