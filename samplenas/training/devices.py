"""The device a command runs on, checked before any work: one line when this machine lacks it."""

from __future__ import annotations

import torch

from samplenas.errors import UserError


def resolve_device(name: str | None) -> torch.device:
    """The torch device `name` names (None: a GPU when one is visible), or a one-line UserError when it
    names none, or one this machine does not have."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"device {name!r} is not a device samplenas runs on (cpu, cuda, cuda:N or mps)") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"device {name!r} is not a device samplenas runs on (cpu, cuda, cuda:N or mps)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but no CUDA GPU is visible")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA GPU(s) are visible")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device {name!r} requested but MPS is not available on this machine")
    return device
