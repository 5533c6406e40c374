"""Atomic checkpoint and JSON files: written to a temporary file in the same folder, then renamed,
so a crash never leaves a half-written file; read back without unpickling (`weights_only=True`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from samplenas.errors import UserError
from samplenas.strict_json import dumps

CHECKPOINT = "checkpoint.pt"  # a run folder's latest checkpoint (retrain and supernet runs alike)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a result or exported file gets the usual mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """`torch.save` of `state` (tensors, numbers, strings, lists, dicts) to `path`, atomically."""
    _atomic_write(Path(path), lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """The state saved by `save_checkpoint`; UserError if missing or not a checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or foreign files
        reason = (str(err).splitlines() or [""])[0]
        raise UserError(f"checkpoint {path} cannot be read ({type(err).__name__}: {reason})") from None
    if not isinstance(state, dict):
        raise UserError(f"checkpoint {path} does not hold a state dictionary")
    return state


def save_json(path: str | os.PathLike, data) -> None:
    """`data` as indented strict JSON at `path` (non-finite numbers become null), atomically."""
    text = dumps(data, indent=2, sort_keys=False) + "\n"
    _atomic_write(Path(path), lambda f: f.write(text.encode()))


def first_non_finite(module: torch.nn.Module) -> str | None:
    """Name of the first floating-point parameter or buffer (BN running statistics included) holding
    NaN or inf, or None: a checkpoint is only "good" when all of them are finite."""
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None
