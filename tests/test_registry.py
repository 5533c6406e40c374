import pytest

from samplenas.registry import Registry, UnknownName
from samplenas.samplers import SAMPLERS
from samplenas.spaces import SPACES
from samplenas.supernet import SUPERNETS


def test_unknown_name_lists_the_valid_ones():
    registry = Registry("thing", {"b": "math:floor", "a": "math:ceil"})
    with pytest.raises(UnknownName, match=r"unknown thing 'c'; valid: a, b"):
        registry["c"]


def test_lookup_imports_lazily():
    registry = Registry("thing", {"floor": "math:floor"})
    import math

    assert registry["floor"] is math.floor and "floor" in registry and list(registry) == ["floor"]


@pytest.mark.parametrize("registry", [SPACES, SUPERNETS, SAMPLERS], ids=lambda r: r.kind)
def test_every_registered_name_resolves(registry):
    for name in registry.names():
        assert isinstance(registry[name], type)


def test_every_space_has_a_supernet():
    import samplenas.population  # noqa: F401  (registers "dnc")

    assert set(SPACES.names()) <= set(SUPERNETS.names())
    # Deep-n-Cheap networks are buildable (retrain, evaluate) but not a sampler-facing space (docs/reference/spaces.md)
    assert set(SUPERNETS.names()) - set(SPACES.names()) == {"dnc"}


def test_the_population_floor_registers_dnc_and_the_cli_imports_it():
    """The supernet floor never names a population class; importing the CLI (or population) adds "dnc"."""
    import subprocess
    import sys

    code = ("import samplenas.supernet as s; assert 'dnc' not in s.SUPERNETS.names(); "
            "import samplenas.cli; n = s.SUPERNETS['dnc'](num_classes=3, in_channels=1, image_size=8); "
            "assert type(n).__module__ == 'samplenas.population.dnc_space'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
