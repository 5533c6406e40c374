"""The command-line reference, generated from the argparse parser so it cannot drift from the code.

An MkDocs hook (`hooks:` in mkdocs.yml): on the page that holds the marker line below, the marker is
replaced by one section per command and subcommand, each with its one-line summary and its `--help`
text exactly as `samplenas ... --help` prints it (wrapped at a fixed width, so the page does not depend
on the terminal that builds it). Run as a script it prints the generated Markdown:

  python tools/cli_docs.py > /tmp/cli.md
"""

from __future__ import annotations

import argparse
import os
from contextlib import contextmanager

MARKER = "<!-- cli-reference -->"
WIDTH = "100"  # argparse wraps help at $COLUMNS


@contextmanager
def _columns(width: str):
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width
    try:
        yield
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _summaries(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Subcommand name -> the one-line help its parent lists for it."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                found[choice.dest] = choice.help or ""
    return found


def render() -> str:
    """Markdown for every parser under `samplenas`, in the order `samplenas --help` lists them."""
    from samplenas.cli import build_parser, walk

    sections = []
    with _columns(WIDTH):
        root = build_parser()
        summaries = {(): ""}
        for words, parser in walk(root):
            for name, text in _summaries(parser).items():
                summaries[(*words, name)] = text
            title = " ".join(("samplenas", *words))
            summary = summaries.get(words, "")
            lines = [f"## `{title}`", ""]
            if summary:
                lines += [summary[0].upper() + summary[1:] + ".", ""]
            lines += ["```text", parser.format_help().rstrip(), "```", ""]
            sections.append("\n".join(lines))
    return "\n".join(sections)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """MkDocs hook: fill the marker with the generated reference."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


if __name__ == "__main__":
    print(render())
