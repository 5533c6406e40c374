"""The study records under docs/data are read by the docs' readers and re-run by users: each one parses,
and the commands and scripts it keeps name paths from the repository root, not from one machine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "docs" / "data"
MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:work|root|home|tmp)/")
RECORDS = sorted(p for p in DATA.iterdir() if p.suffix in (".json", ".jsonl"))


def test_there_are_records():
    assert len(RECORDS) >= 10


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name)
def test_each_record_parses_and_names_no_machine_path(path):
    text = path.read_text()
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert rows
    else:
        json.loads(text)
    found = MACHINE_PATH.search(text)
    assert found is None, f"{path.name}: {text[max(0, found.start() - 60):found.end() + 40]!r}"
