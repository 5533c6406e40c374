"""Name -> class registries that import lazily, so listing names never imports torch.

Third-party packages add names through entry points: a registry made with `group="samplenas.spaces"`
also lists every entry point of that group of the installed distributions (read from their metadata
on first use, without importing them), e.g. in the plugin's pyproject.toml:

    [project.entry-points."samplenas.spaces"]
    toy = "samplenas_toy:ToySpace"

Built-in names win over plugins (a clash is ignored with a warning), so a plugin cannot silently
change what a published command line means.
"""

from __future__ import annotations

import importlib
import warnings
from importlib import metadata

from samplenas.errors import UserError

BUILT_IN = "built-in"
_installed: metadata.EntryPoints | None = None  # every installed entry point, read once for all registries


def _entry_points(group: str) -> metadata.EntryPoints:
    global _installed
    if _installed is None:
        _installed = metadata.entry_points()  # one scan of the installed distributions (~20 ms)
    return _installed.select(group=group)


class UnknownName(KeyError):
    """An unregistered name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry:
    """Maps names to "module:Class" paths; `registry[name]` imports and returns the class."""

    def __init__(self, kind: str, entries: dict[str, str], group: str | None = None):
        self.kind = kind
        self.group = group
        self._paths = dict(entries)
        self._origins = dict.fromkeys(entries, BUILT_IN)
        self._discovered = group is None

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._paths)

    def origin(self, name: str) -> str:
        """"built-in", or "plugin DIST VERSION" for a name an installed distribution registered."""
        self._discover()
        if name not in self._paths:
            raise UnknownName(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")
        return self._origins[name]

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._paths

    def __iter__(self):
        return iter(self.names())

    def __getitem__(self, name: str):
        self._discover()
        if name not in self._paths:
            raise UnknownName(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")
        module, _, attr = self._paths[name].partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:  # a broken plugin is the user's to fix, in one line
            if self._origins[name] == BUILT_IN:
                raise
            raise UserError(f"{self.kind} {name!r} from {self._origins[name]} cannot be loaded "
                            f"({type(err).__name__}: {err})") from None

    def register(self, name: str, path: str, origin: str = BUILT_IN) -> None:
        self._paths[name] = path
        self._origins[name] = origin

    def refresh(self) -> None:
        """Forget discovered plugins and read the installed distributions again (after installing one)."""
        global _installed
        _installed = None
        for name in [n for n, origin in self._origins.items() if origin != BUILT_IN]:
            del self._paths[name], self._origins[name]
        self._discovered = self.group is None

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for point in _entry_points(self.group):
            dist = f"plugin {point.dist.name} {point.dist.version}" if point.dist is not None else "plugin"
            if point.name in self._paths:
                if self._paths[point.name] != point.value:  # the same distribution seen twice is no clash
                    warnings.warn(f"{self.group}: {dist} registers {self.kind} {point.name!r}, which "
                                  f"{self._origins[point.name]} already provides; ignored", stacklevel=2)
                continue
            if ":" not in point.value:
                warnings.warn(f"{self.group}: {dist} entry point {point.name} = {point.value!r} is not "
                              "'module:Class'; ignored", stacklevel=2)
                continue
            self.register(point.name, point.value, dist)
