"""Name -> class registries that import lazily, so listing names never imports torch."""

from __future__ import annotations

import importlib


class UnknownName(KeyError):
    """An unregistered name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry:
    """Maps names to "module:Class" paths; `registry[name]` imports and returns the class."""

    def __init__(self, kind: str, entries: dict[str, str]):
        self.kind = kind
        self._paths = dict(entries)

    def names(self) -> list[str]:
        return sorted(self._paths)

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def __iter__(self):
        return iter(self.names())

    def __getitem__(self, name: str):
        if name not in self._paths:
            raise UnknownName(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")
        module, _, attr = self._paths[name].partition(":")
        return getattr(importlib.import_module(module), attr)

    def register(self, name: str, path: str) -> None:
        self._paths[name] = path
