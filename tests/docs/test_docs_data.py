"""The study records under docs/data are read by the docs' readers and re-run by users: each one parses,
and the commands, scripts and texts it keeps name paths from the repository root, not from one machine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "docs" / "data"
# an absolute path under a folder that exists on one machine only (a decoded string: escapes are gone)
MACHINE_PATH = re.compile(r"(?<![\w.~/])/(?:work|root|home|tmp|Users|mnt|scratch|data|private|var)/")
RECORDS = sorted(p for p in DATA.iterdir() if p.suffix in (".json", ".jsonl"))


def strings(value):
    """Every string inside a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_there_are_records():
    assert len(RECORDS) >= 10


def test_the_check_sees_paths_inside_embedded_scripts():
    record = json.loads(json.dumps({"script": "import sys\n/work/main/tools\n", "ok": "--data-dir data runs/x"}))
    found = [text for text in strings(record) if MACHINE_PATH.search(text)]
    assert found == ["import sys\n/work/main/tools\n"]


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name)
def test_each_record_parses_and_names_no_machine_path(path):
    text = path.read_text()
    if path.suffix == ".jsonl":
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert records
    else:
        records = [json.loads(text)]
    for text in strings(records):
        found = MACHINE_PATH.search(text)
        assert found is None, f"{path.name}: {text[max(0, found.start() - 60):found.end() + 40]!r}"
