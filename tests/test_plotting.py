"""The one PNG writer: atomic, and the file gets the mode an ordinary file would (0644 under the usual
umask), not the 0600 of the temporary file it is written to."""

from __future__ import annotations

import os
import stat

import pytest

from samplenas.plotting import pyplot, save_figure


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_png_mode_follows_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        fig, ax = pyplot().subplots()
        ax.plot([0, 1], [0, 1])
        path = save_figure(fig, tmp_path / "figure.png")
        (tmp_path / "ordinary.txt").write_text("x")  # what open() makes under the same umask
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode == stat.S_IMODE((tmp_path / "ordinary.txt").stat().st_mode)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "ordinary.txt"]  # no temporary left
