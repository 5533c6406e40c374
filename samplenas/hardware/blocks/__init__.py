"""Per-space latency blocks (see `base`): `block_spec(space, settings)` for the four built-in spaces."""

from __future__ import annotations

import importlib

from samplenas.errors import UserError

BLOCK_SPECS = {
    "nb101": "samplenas.hardware.blocks.nasbench101:NASBench101Blocks",
    "nasnet": "samplenas.hardware.blocks.nasnet:NASNetBlocks",
    "shufflenet": "samplenas.hardware.blocks.shufflenet:ShuffleNetBlocks",
    "autoencoder": "samplenas.hardware.blocks.autoencoder:AutoencoderBlocks",
}


def block_spec(space: str, settings: dict):
    """The BlockSpec of `space` at the full network `settings` (see `samplenas.hardware.settings`)."""
    if space not in BLOCK_SPECS:
        raise UserError(f"no latency blocks are defined for space {space!r}; supported: {', '.join(BLOCK_SPECS)}")
    module, name = BLOCK_SPECS[space].split(":")
    try:
        return getattr(importlib.import_module(module), name)(settings)
    except (TypeError, ValueError, KeyError) as err:
        raise UserError(f"{space} network settings {settings} cannot make a network ({err})") from None
