"""README.md is read on GitHub, outside the docs site, so `mkdocs build --strict` does not check its links:
every relative link of README must name a file of the repository, and a link into a Markdown page must name
one of that page's headings as the site and GitHub build them."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import markdown
import pytest

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(text: str) -> list[str]:
    """The targets of inline links that point into the repository (no scheme, no bare anchor)."""
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target) and not target.startswith("#")]


@cache
def heading_ids(page: Path) -> frozenset[str]:
    """The ids the toc extension gives the page's headings (with `{#id}` overrides), as mkdocs does."""
    md = markdown.Markdown(extensions=["toc", "attr_list", "tables", "pymdownx.superfences"])
    md.convert(page.read_text(encoding="utf-8"))

    def walk(tokens):
        for token in tokens:
            yield token["id"]
            yield from walk(token["children"])

    return frozenset(walk(md.toc_tokens))


README_LINKS = relative_links((REPO / "README.md").read_text(encoding="utf-8"))


def test_the_check_reads_links_and_headings(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## The search's ten best, trained alone\n\n### A {#custom}\n\n"
                    "```bash\n# not a heading\n```\n")
    assert heading_ids(page) == {"title", "the-searchs-ten-best-trained-alone", "custom"}
    assert relative_links("[a](docs/x.md#y) [b](https://e.org) [c](#z) [d](LICENSE)") == ["docs/x.md#y", "LICENSE"]


def test_readme_has_links_into_the_docs():  # the links below are checked only if the pattern finds them
    assert any(".md#" in link for link in README_LINKS) and any(link.startswith("docs/") for link in README_LINKS)


@pytest.mark.parametrize("link", sorted(set(README_LINKS)))
def test_readme_link_names_a_file_and_heading(link):
    path, _, anchor = link.partition("#")
    target = REPO / path
    assert target.exists(), f"README links to {path}, which does not exist"
    if anchor and target.suffix == ".md":
        assert anchor in heading_ids(target), f"README links to #{anchor}, which is no heading of {path}"
