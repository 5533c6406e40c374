"""Matplotlib for every PNG the project writes: the Agg backend, imported only when a plot is drawn (so
commands start without matplotlib), and one atomic save (never a half-written PNG beside the results)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, **savefig_options) -> Path:
    """Write `fig` to a temporary PNG in `path`'s folder, rename it over `path`, close the figure."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(temp, format="png", **savefig_options)
        os.chmod(temp, 0o666 & ~_umask())  # as an ordinary open() would have made it, not mkstemp's 0600
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)
        pyplot().close(fig)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
