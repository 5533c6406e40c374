"""All NAS-Bench-101 cells from a table file, for exact uniform sampling over distinct cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samplenas.errors import UserError


def load_cells(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(adjacency [N,7,7], op codes [N,7], vertex counts [N]) from the shared npz or a converted .h5."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"NAS-Bench-101 table not found: {path}")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as table:
            return table["adjacency"], table["ops"], table["num_vertices"]
    import h5py

    with h5py.File(path, "r") as table:
        return table["adjacency"][:], table["ops"][:], table["num_vertices"][:]
