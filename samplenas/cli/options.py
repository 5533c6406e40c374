"""Help texts that several commands share: the registered spaces, samplers and data sets, listed
from the lazy registries and `training.choices` (none imports torch), so that `--help` names every
valid value, a newly registered one included, and stays fast."""

from __future__ import annotations

from samplenas.samplers import SAMPLERS
from samplenas.spaces import SPACES
from samplenas.training.choices import DATASETS


def spaces_text() -> str:
    return ", ".join(SPACES.names())


def samplers_text() -> str:
    return ", ".join(SAMPLERS.names())


def datasets_text() -> str:
    return f"{', '.join(DATASETS)} (digits is embedded; the others need --data-dir)"
