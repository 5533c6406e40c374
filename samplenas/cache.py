"""The cache folder: what samplenas derives once from a user's file and reuses on later runs.

`$SAMPLENAS_CACHE`, default `~/.cache/samplenas`. It holds the CIFAR-10 JPEG archive extracted once
(`cifar10-jpeg-<tag>/`, by `training.data`) and official NAS-Bench-101 files converted once to the
HDF5 table (`nasbench101/<name>-<size>-<mtime>.h5`, by `compat.nasbench`). Entries are keyed by the
source's path/size/modification time, so a changed source is derived again; deleting the folder is
always safe (it only costs the time to derive the entries again).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$SAMPLENAS_CACHE if set, else ~/.cache/samplenas (not created here)."""
    return Path(os.environ.get("SAMPLENAS_CACHE") or Path.home() / ".cache" / "samplenas")
