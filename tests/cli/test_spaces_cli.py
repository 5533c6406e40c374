import json
import subprocess
import sys

from samplenas.cli import main
from samplenas.spaces import SPACES


def test_spaces_lists_every_space_with_positions_and_size(capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    for name in SPACES.names():
        assert f"{name}: " in out
    assert "nb101: 26 positions, size 423,624" in out
    assert "e01..e56: off | on" in out


def test_spaces_json_samples_are_valid(capsys):
    assert main(["spaces", "--json", "--sample", "3", "--seed", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(entry["name"] for entry in report) == SPACES.names()
    for entry in report:
        space = SPACES[entry["name"]]()
        assert len(entry["positions"]) == len(space.dims)
        assert [len(p["choices"]) for p in entry["positions"]] == list(space.dims)
        assert len(entry["samples"]) == 3
        for text in entry["samples"]:
            assert space.is_valid(space.from_str(text))


def test_validate_accepts_a_readable_architecture(capsys):
    arch = "ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,1-6"
    assert main(["spaces", "nb101", "--validate", arch]) == 0
    assert "key=" in capsys.readouterr().out


def test_bad_architecture_is_one_line_and_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "samplenas", "spaces", "nb101", "--validate", "ops=nope edges=0-6"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("samplenas spaces: error: nb101:")


def test_unknown_space_lists_valid_names():
    proc = subprocess.run([sys.executable, "-m", "samplenas", "spaces", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown space 'nope'; valid: autoencoder, nasnet, nb101, shufflenet" in proc.stderr
