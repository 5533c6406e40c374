"""The settings line of the commands that read a run: what they use, from where, and which flags set it."""

from __future__ import annotations

from samplenas.cli.settings_line import settings_line


def test_the_line_names_the_settings_their_source_and_the_flags_given():
    assert settings_line("export", "mnist", "/d", {"C": 4}, "run/config.json", []) == \
        'export: using data=mnist data_dir=/d network={"C": 4} from run/config.json'
    assert settings_line("retrain", "digits", None, {}, "top.json", ["--data", "--network"]) == \
        "retrain: using data=digits data_dir=None network={} from top.json (--data, --network as given)"
