"""The command-line reference page is generated from the real parser: every command and option is on it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from samplenas.cli import build_parser, walk
from tests.tools.tool_loader import load_tool

REPO = Path(__file__).resolve().parents[2]


def sections(markdown: str) -> dict[str, str]:
    """Section title (e.g. "samplenas nb101 study") -> its text."""
    found = {}
    for chunk in ("\n" + markdown).split("\n## `")[1:]:
        title, _, body = chunk.partition("`")
        found[title] = body
    return found


def test_every_command_has_a_section_with_every_option():
    cli_docs = load_tool("cli_docs")
    rendered = sections(cli_docs.render())
    parsers = list(walk(build_parser()))
    assert len(parsers) >= 15  # samplenas, its commands and the nb101 / dnc subcommands
    assert list(rendered) == [" ".join(("samplenas", *words)) for words, _ in parsers]
    for words, parser in parsers:
        body = rendered[" ".join(("samplenas", *words))]
        assert f"usage: {parser.prog}" in body
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:  # hidden on purpose (e.g. a renamed flag that only explains itself)
                continue
            for option in action.option_strings:
                assert option in body, f"{parser.prog}: {option} missing from the reference"


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch):
    cli_docs = load_tool("cli_docs")
    monkeypatch.setenv("COLUMNS", "40")
    narrow = cli_docs.render()
    monkeypatch.setenv("COLUMNS", "250")
    assert cli_docs.render() == narrow
    assert os.environ["COLUMNS"] == "250"  # restored after rendering


def test_the_hook_fills_the_marker_of_the_cli_page():
    cli_docs = load_tool("cli_docs")
    page = (REPO / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert cli_docs.MARKER in page
    filled = cli_docs.on_page_markdown(page, None, None, None)
    assert cli_docs.MARKER not in filled
    assert "## `samplenas train`" in filled
    assert cli_docs.on_page_markdown("# other page\n", None, None, None) == "# other page\n"
