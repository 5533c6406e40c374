"""tools/bench_supernet.py: `--network` settings reach the supernet it times, and bad ones are usage errors."""

import pytest

from tests.tools.tool_loader import load_tool


def test_network_settings_go_over_the_setups_own():
    tool = load_tool("bench_supernet")
    args = tool.parse_args(["--space", "nb101", "--network", '{"weight_copies": 2, "stem_channels": 8}'])
    setup = tool.setup_of("nb101", args)
    assert setup.settings == {"stem_channels": 8, "weight_copies": 2}
    assert tool.SETUPS["nb101"].settings == {"stem_channels": 32}  # the table of setups is untouched
    supernet = tool.build_supernet("nb101", setup, tool.torch.device("cpu"))
    assert supernet.settings["weight_copies"] == 2 and supernet.settings["stem_channels"] == 8
    assert tool.setup_of("nb101", tool.parse_args(["--space", "nb101"])) is tool.SETUPS["nb101"]


@pytest.mark.parametrize("argv", [["--network", '{"weight_copies": 2}'],  # every space: one network for all
                                  ["--space", "nb101", "--network", "[2]"],
                                  ["--space", "nb101", "--network", "not json"]])
def test_bad_network_settings_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_tool("bench_supernet").parse_args(argv)
    assert exit_.value.code == 2 and "--network" in capsys.readouterr().err
