"""The code examples of the documentation run, so they cannot rot.

Every fenced ```python block of docs/**/*.md runs, unless the line before it is
`<!-- docs-test: skip (reason) -->`; a ```bash block runs only when the line before it is
`<!-- docs-test: run -->`, and then each `samplenas ...` command in it runs in-process through
`samplenas.cli.main` and must exit 0 (a command may continue over lines ending in a backslash).
A block that needs full data sets the tiny fixtures cannot stand in for is marked
`<!-- docs-test: full-data SET... (reason) -->` (SET as tests/conftest.py FULL_SETS names them; a bash
block so marked runs): its page runs twice, once whole (skipped, naming the files, without the full
sets) and once without such blocks.
The blocks of one page run in order, in one namespace and one working folder, so a page reads as a
session: files a command writes are there for the next block. The folder holds `data`, a link to the
test suite's data folder under the full sets' file names (`data_dir_full_names`: on a clone without the
full sets, the tiny fixtures stand in), because the pages use `data/` as the user's data folder.
Snippet includes (`--8<-- "path"`, as the docs build expands them) run the included file.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*docs-test:\s*(run|skip|full-data)\b([^>(]*)[^>]*-->\s*$")
SNIPPET = re.compile(r'^--8<--\s+"([^"]+)"\s*$')
MIN_PYTHON_BLOCKS = 10  # so that a broken extractor cannot pass by running nothing
MIN_BASH_BLOCKS = 8


@dataclass
class Block:
    page: Path
    line: int
    language: str
    code: str
    marker: str | None
    full_data: tuple[str, ...] = ()  # the full data sets a `full-data` block needs

    @property
    def runs(self) -> bool:
        if self.language == "python":
            return self.marker != "skip"
        return self.language == "bash" and self.marker in ("run", "full-data")

    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2),
                           marker.group(1) if marker else None, tuple(marker.group(2).split()) if marker else ()))
    return found


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def every_block() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


def expand_snippets(code: str) -> str:
    lines = []
    for line in code.splitlines():
        include = SNIPPET.match(line)
        lines.append((REPO / include.group(1)).read_text(encoding="utf-8") if include else line)
    return "\n".join(lines)


def commands(code: str) -> list[str]:
    """The `samplenas` command lines of a bash block, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    found = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == "samplenas", f"a docs-test bash block may only run samplenas commands: {line!r}"
            found.append(words[1:])
    return found


def run_command(argv: list[str], where: str) -> None:
    from samplenas.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as stop:  # --help exits 0
        code = stop.code
    assert code in (0, None), f"{where}: samplenas {shlex.join(argv)} exited {code}: {err.getvalue()[-2000:]}"


def test_the_docs_have_examples_and_every_marker_sits_on_a_block():
    everything = every_block()
    python = [b for b in everything if b.language == "python" and b.runs]
    bash = [b for b in everything if b.language == "bash" and b.runs]
    assert len(python) >= MIN_PYTHON_BLOCKS, [b.where() for b in python]
    assert len(bash) >= MIN_BASH_BLOCKS, [b.where() for b in bash]
    for page in pages():
        text = page.read_text(encoding="utf-8")
        marked = len(re.findall(r"^<!--\s*docs-test:", text, re.M))
        assert marked == sum(b.marker is not None for b in blocks(page)), \
            f"{page}: a docs-test marker that is not on the line right before a fenced block"


def page_runs() -> list:
    """(page, whole) per page with examples: a page with `full-data` blocks also runs without them
    (`whole` False), so that its other examples run on the fixtures; the whole page needs the full sets."""
    params = []
    for page in pages():
        runnable = [b for b in blocks(page) if b.runs]
        name = str(page.relative_to(DOCS))
        needs = sorted({s for b in runnable for s in b.full_data})
        if needs:
            params.append(pytest.param(page, False, id=f"{name}-without-full-data-blocks"))
        if runnable:
            params.append(pytest.param(page, True, id=name, marks=[pytest.mark.full_data(*needs)] if needs else []))
    return params


def test_full_data_markers_name_data_sets():
    marked = [b for b in every_block() if b.marker == "full-data"]
    assert all(b.full_data for b in marked), [b.where() for b in marked if not b.full_data]


@pytest.mark.parametrize(("page", "whole"), page_runs())
def test_page_examples_run(page, whole, request, tmp_path, monkeypatch):
    runnable = [b for b in blocks(page) if b.runs and (whole or b.marker != "full-data")]
    if any("data/" in b.code for b in runnable):  # the page reads real data: the suite's data folder
        (tmp_path / "data").symlink_to(request.getfixturevalue("data_dir_full_names"), target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAMPLENAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {"__name__": "__docs__"}
    for block in runnable:
        if block.language == "bash":
            for argv in commands(block.code):
                run_command(argv, block.where())
            continue
        code = expand_snippets(block.code)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(code, block.where(), "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{block.where()}: the example fails: {type(err).__name__}: {err}") from err


def written_commands() -> list[tuple[str, list[str]]]:
    """Every complete `samplenas` command line in a bash block of README.md or the docs, run or not
    (lines with placeholders such as `...` or shell variables are left out)."""
    found = []
    for page in [REPO / "README.md", *pages()]:
        for block in blocks(page):
            if block.language != "bash":
                continue
            for line in re.sub(r"\\\n\s*", " ", block.code).splitlines():
                line = line.split(";")[0].strip()
                if not line.startswith("samplenas ") or "..." in line or "$" in line or "|" in line:
                    continue
                found.append((f"{block.where() if page != REPO / 'README.md' else 'README.md'}",
                              shlex.split(line, comments=True)[1:]))
    return found


def test_every_written_command_line_parses():
    """Commands too long to run in the tests still name existing commands, options and choices."""
    from samplenas.cli import build_parser

    found = written_commands()
    assert len(found) >= 40
    parser = build_parser()  # parse_args keeps no state between calls
    for where, argv in found:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                parser.parse_args(argv)
        except SystemExit as stop:
            assert stop.code == 0, f"{where}: samplenas {shlex.join(argv)} does not parse"
