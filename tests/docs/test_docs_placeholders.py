"""README and the docs pages carry no placeholder left from writing them: an ALL_CAPS_NAME in prose (outside
code blocks and code spans, where environment variables and constants belong) marks a figure still to fill in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b")
NAMES_IN_PROSE = {"DARTS_V2"}  # the published name of DARTS's second-order genotype


def prose(text: str) -> str:
    """`text` without its fenced code blocks and inline code spans."""
    return re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))


def placeholders(text: str) -> list[str]:
    return [name for name in PLACEHOLDER.findall(prose(text)) if name not in NAMES_IN_PROSE]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_no_placeholder_is_left_in_the_prose(page):
    assert placeholders(page.read_text(encoding="utf-8")) == []


def test_a_placeholder_is_found_in_prose_and_not_in_code():
    text = "ranks worse (SANDWICH_RESULT), see `SAMPLENAS_DATA` and DARTS_V2\n```bash\nOMP_NUM_THREADS=1 run\n```\n"
    assert placeholders(text) == ["SANDWICH_RESULT"]
