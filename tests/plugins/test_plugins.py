"""Plugins: a package registers a space, a supernet and a sampler through entry points, and samplenas
lists and trains them. The toy plugin in tests/plugins/toy_space is made discoverable the way pip would
(a *.dist-info folder with its entry points, here in a temporary folder on sys.path / PYTHONPATH),
so nothing is installed into the environment and nothing outlives the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from samplenas.errors import UserError
from samplenas.samplers import SAMPLERS
from samplenas.spaces import SPACES
from samplenas.supernet import SUPERNETS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before Python 3.11
    import tomli as tomllib

TOY = Path(__file__).parent / "toy_space"
REGISTRIES = (SPACES, SUPERNETS, SAMPLERS)


def write_dist(site: Path, name: str, version: str, entry_points: dict[str, dict[str, str]]) -> None:
    """The metadata pip writes for an installed distribution, reduced to what entry points need."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    groups = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
              for group, points in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(groups))


def toy_dist(site: Path) -> None:
    """The toy plugin's distribution, its entry points read from its own pyproject.toml."""
    project = tomllib.loads((TOY / "pyproject.toml").read_text())["project"]
    write_dist(site, project["name"], project["version"], project["entry-points"])


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """sys.path holding the toy plugin and its metadata; registries re-read, and restored afterwards."""
    site = tmp_path / "site"
    toy_dist(site)
    with monkeypatch.context() as patch:
        patch.syspath_prepend(str(TOY))
        patch.syspath_prepend(str(site))
        for registry in REGISTRIES:
            registry.refresh()
        yield site
    sys.modules.pop("samplenas_toy", None)
    for registry in REGISTRIES:
        registry.refresh()


def test_entry_points_register_a_space_a_supernet_and_a_sampler(plugin_path):
    assert "toy" in SPACES.names() and "toy" in SUPERNETS.names() and "toy-first" in SAMPLERS.names()
    assert SPACES.origin("toy") == "plugin samplenas-toy 0.1.0" and SPACES.origin("nasnet") == "built-in"
    space = SPACES["toy"]()
    assert space.size() == (26, True)
    supernet = SUPERNETS["toy"]()
    sampler = SAMPLERS["toy-first"](supernet.space, seed=0)
    archs = sampler.sample(3)
    assert archs[0] == (0, 0, 0) and all(space.is_valid(a) for a in archs)


def test_plugins_disappear_with_their_distribution(plugin_path):
    assert "toy" in SPACES
    sys.path.remove(str(plugin_path))
    SPACES.refresh()
    assert "toy" not in SPACES


def test_built_in_names_win_and_broken_plugins_fail_in_one_line(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_dist(site, "samplenas-rogue", "1.0", {
        "samplenas.spaces": {"nasnet": "samplenas_rogue:Space", "ghost": "samplenas_rogue_missing:Space"},
    })
    try:
        with monkeypatch.context() as patch:
            patch.syspath_prepend(str(site))
            SPACES.refresh()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                names = SPACES.names()
            assert "ghost" in names
            assert any("registers space 'nasnet', which built-in already provides; ignored" in str(w.message)
                       for w in caught)
            assert SPACES["nasnet"].__name__ == "NASNetSpace"
            with pytest.raises(UserError, match="space 'ghost' from plugin samplenas-rogue 1.0 cannot be loaded "
                                                "\\(ModuleNotFoundError"):
                SPACES["ghost"]
    finally:
        SPACES.refresh()
    assert "ghost" not in SPACES


# Runs CLI commands one after another in ONE fresh Python (starting torch once, not once per command),
# printing each command's standard output as a JSON string on a line of its own.
CLI_SEQUENCE = r"""
import contextlib, io, json, sys
from samplenas.cli import main
for args in json.loads(sys.argv[1]):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(args)
    if code:
        sys.exit(f"samplenas {' '.join(args)} exited with {code}")
    print(json.dumps(printed.getvalue()))
"""


@pytest.mark.slow
def test_the_cli_lists_and_trains_a_plugin_space(tmp_path):
    """In a fresh Python that finds the plugin only through its entry points: list it, train, search,
    retrain with the plugin's own recipe, export."""
    site = tmp_path / "site"
    toy_dist(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(TOY)]), "OMP_NUM_THREADS": "1"}
    run, retrained = tmp_path / "run", tmp_path / "rt"
    commands = [
        ["spaces", "toy"],
        ["train", "--space", "toy", "--sampler", "toy-first", "--out", str(run), "--steps", "1", "--batch-size", "8",
         "--eval-every", "1", "--eval-archs", "1", "--eval-examples", "8", "--network", '{"width": 4}', "--quiet"],
        ["search", "--run", str(run), "--population", "3", "--generations", "1", "--children", "1", "--quiet"],
        ["retrain", "--from", str(run / "top.json"), "--out", str(retrained), "--epochs", "1", "--limit", "64",
         "--quiet"],
        ["export", "--from", str(retrained), "--format", "exported-program", "--out", str(tmp_path / "toy.pt2")],
    ]
    done = subprocess.run([sys.executable, "-c", CLI_SEQUENCE, json.dumps(commands)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('"')]
    assert len(printed) == len(commands)
    assert "toy: 3 positions, size 26 (plugin samplenas-toy 0.1.0)" in printed[0]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 1 and (run / "checkpoint.pt").is_file()
    assert json.loads((run / "config.json").read_text())["space"] == "toy"
    assert (run / "top.json").is_file()
    result = json.loads((retrained / "result.json").read_text())
    assert result["space"] == "toy" and result["recipe"]["lr"] == 0.05 and result["recipe"]["batch_size"] == 32
    exported = json.loads(printed[-1])
    assert exported["space"] == "toy" and exported["arch"] == result["arch"]
