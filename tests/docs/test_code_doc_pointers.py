"""The code says where each default was measured ("docs/results/PAGE.md" in a comment or docstring): every page it
names must exist, or a reader following the pointer finds nothing (pages move when the docs are reorganised)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POINTER = re.compile(r"docs/[\w./-]+\.md")
# "docs/results/a.md, b.md": a bare page name after a pointer is a page of the same folder
SIBLING = re.compile(r"(docs/[\w/-]+/)[\w.-]+\.md((?:, [\w-]+\.md)+)")


def pointers(text: str) -> set[str]:
    found = set(POINTER.findall(text))
    for folder, tail in SIBLING.findall(text):
        found.update(folder + name.strip() for name in tail.split(",") if name.strip())
    return found


SOURCES = sorted([*REPO.glob("samplenas/**/*.py"), *REPO.glob("tools/*.py")])
FOUND = sorted({(source.relative_to(REPO).as_posix(), page) for source in SOURCES
                for page in pointers(source.read_text(encoding="utf-8"))})


def test_the_pattern_finds_pointers():
    assert pointers("measured (docs/results/x.md, y.md); see docs/index.md") == {
        "docs/results/x.md", "docs/results/y.md", "docs/index.md"}
    assert len(FOUND) >= 5


@pytest.mark.parametrize("source, page", FOUND)
def test_pointer_names_an_existing_page(source, page):
    assert (REPO / page).is_file(), f"{source} points to {page}, which does not exist"
