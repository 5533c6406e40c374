"""Building a supernet from a space name and user settings, shared by supernet training, retraining and
the population searches (so the check of settings against the supernet's signature lives once)."""

from __future__ import annotations

import inspect

from samplenas.errors import UserError
from samplenas.supernet import SUPERNETS

DATA_SETTINGS = ("num_classes", "in_channels", "image_size")  # taken from the data set when accepted


def supernet_setting_names(space: str) -> list[str]:
    """The keyword settings the space's supernet accepts."""
    parameters = inspect.signature(SUPERNETS[space].__init__).parameters.values()
    return sorted(p.name for p in parameters
                  if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def network_settings(space: str, network: dict, info) -> dict:
    """The user's network settings plus the data set's shape, for the settings the supernet takes."""
    accepted = supernet_setting_names(space)
    settings = {name: getattr(info, name) for name in DATA_SETTINGS if name in accepted}
    settings.update(network)
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        raise UserError(f"{space} supernet has no setting {unknown[0]!r}; valid: {', '.join(accepted)}")
    return settings


def make_supernet(space: str, settings: dict):
    """The supernet of `space` built with `settings`, which it keeps as `.made_with` (a latency table is
    checked against them: it predicts only for the network size it was measured on)."""
    try:
        supernet = SUPERNETS[space](**settings)
    except (TypeError, ValueError) as err:  # a missing/extra setting, or a value the space refuses
        raise UserError(f"{space} supernet settings {settings}: {err}") from None
    supernet.made_with = dict(settings)
    return supernet
