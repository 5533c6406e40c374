"""The cache folder: $SAMPLENAS_CACHE, else ~/.cache/samplenas, one definition for every user."""

from __future__ import annotations

from pathlib import Path

from samplenas.cache import cache_root


def test_the_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("SAMPLENAS_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    assert not (tmp_path / "c").exists()  # naming it creates nothing


def test_default_is_under_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("SAMPLENAS_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == Path(tmp_path) / ".cache" / "samplenas"

