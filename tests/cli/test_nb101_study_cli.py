"""`samplenas nb101 study --help` names the files it writes."""

from __future__ import annotations

import pytest

from samplenas.cli import main


def test_help_names_the_files_written(capsys):
    with pytest.raises(SystemExit):
        main(["nb101", "study", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "PROTOCOL.json" in text and "PROTOCOL.png" in text and "maxk.json" in text
    assert "study.json" not in text
