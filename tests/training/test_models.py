"""`samplenas.load_model`: retrain folders, supernet runs and top.json back as networks; bad files as one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import samplenas
from samplenas.cli import main
from samplenas.errors import UserError
from samplenas.supernet.base import Supernet
from samplenas.training.checkpoint import load_checkpoint, save_checkpoint
from samplenas.training.models import open_model

NASNET_ARCH = ("normal: node2=sep_conv_3x3<-0+skip_connect<-1; node3=dil_conv_5x5<-2; node4=avg_pool_3x3<-3; "
               "node5=dil_conv_3x3<-2 | reduce: node2=dil_conv_5x5<-0+sep_conv_5x5<-1; node3=sep_conv_5x5<-0; "
               "node4=max_pool_3x3<-1; node5=skip_connect<-1")


@pytest.fixture(scope="module")
def retrain_dir(tmp_path_factory):
    """A two-member ensemble retrain of a DARTS-op-set nasnet cell (3 steps on 8x8 digits)."""
    out = tmp_path_factory.mktemp("retrain")
    assert main(["retrain", "--space", "nasnet", "--arch", NASNET_ARCH, "--out", str(out), "--epochs", "1",
                 "--batch-size", "16", "--limit", "48", "--ensemble", "2", "--quiet",
                 "--network", '{"C": 4, "layers": 3, "ops": "darts"}']) == 0
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    assert main(["train", "--space", "nb101", "--sampler", "uniform", "--out", str(run), "--steps", "3",
                 "--batch-size", "8", "--eval-every", "3", "--eval-archs", "2", "--eval-examples", "16",
                 "--bn-batches", "1", "--quiet", "--checkpoint-every", "1", "--keep-checkpoints",
                 "--network", '{"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}']) == 0
    assert main(["search", "--run", str(run), "--population", "2", "--generations", "1", "--children", "1",
                 "--top", "2", "--scorer", "supernet", "--rescore-top", "0", "--quiet"]) == 0
    return run


def test_retrain_folder_gives_the_retrained_network(retrain_dir):
    net = samplenas.load_model(retrain_dir)
    assert isinstance(net, nn.Module) and not net.training
    state = load_checkpoint(retrain_dir / "checkpoint.pt")
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, state["members"][0]["model"][name])
    second = samplenas.load_model(retrain_dir / "checkpoint.pt", member=1)
    assert any(not torch.equal(a, b) for a, b in zip(net.state_dict().values(), second.state_dict().values()))
    loaded = open_model(retrain_dir)
    assert loaded.settings["ops"] == "darts" and loaded.arch == NASNET_ARCH  # the op set came back from the file
    assert any(name.endswith("dil_conv_5x5.op.1.weight") for name in net.state_dict())
    x = torch.randn(2, *loaded.input_shape)
    assert net(x).shape == (2, 10)


def test_supernet_run_gives_the_supernet_or_one_calibrated_path(run_dir):
    supernet = samplenas.load_model(run_dir)
    assert isinstance(supernet, Supernet) and not supernet.training
    top = json.loads((run_dir / "top.json").read_text())["top"]
    best, second = top[0]["arch"], top[1]["arch"]
    from_top = open_model(run_dir / "top.json")
    assert from_top.arch == best and from_top.kind == "extracted"
    chosen = open_model(run_dir, arch=second)
    assert chosen.arch == second and chosen.score == {"score": top[1]["score"], **top[1]["metrics"]}
    x = torch.randn(2, *from_top.input_shape)
    with torch.no_grad():
        assert torch.allclose(from_top.net(x), samplenas.load_model(run_dir, arch=best)(x))


def test_a_kept_checkpoint_is_opened_once_with_its_runs_config(run_dir, monkeypatch):
    """RUN/checkpoints/stepN.pt: that checkpoint's weights (not the final ones), the run's config.json, one read."""
    kept = run_dir / "checkpoints" / "step0000001.pt"
    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a[0]) or real_load(*a, **k))
    loaded = open_model(kept)
    assert reads == [kept] and loaded.source == str(kept) and loaded.kind == "supernet"
    saved, final = load_checkpoint(kept)["model"], load_checkpoint(run_dir / "checkpoint.pt")["model"]
    weights = loaded.net.state_dict()
    assert all(torch.equal(weights[name], tensor) for name, tensor in saved.items())
    assert any(not torch.equal(saved[name], final[name]) for name in saved)


def test_the_settings_are_announced_before_any_work(retrain_dir, run_dir, monkeypatch):
    """`announce` hears the data, network and source a network is opened with, before its run is opened."""
    from samplenas.training import models, supernet_run

    events = []
    real_open_run, real_open_retrain = supernet_run.open_run, models._open_retrain
    monkeypatch.setattr(supernet_run, "open_run", lambda *a, **k: events.append("open") or real_open_run(*a, **k))
    monkeypatch.setattr(models, "_open_retrain", lambda *a, **k: events.append("open") or real_open_retrain(*a, **k))
    for path, data_dir in ((run_dir / "top.json", None), (run_dir / "checkpoints" / "step0000001.pt", "elsewhere"),
                           (retrain_dir, None)):
        events.clear()
        open_model(path, data_dir=data_dir, announce=events.append)
        used, opened = events
        assert opened == "open", events
        assert used.data == "digits" and used.data_dir == data_dir
        assert used.given == (("data_dir",) if data_dir else ())
        if path == retrain_dir:
            assert {"C": 4, "layers": 3, "ops": "darts"}.items() <= used.network.items()
            assert used.source == retrain_dir / "checkpoint.pt"
        else:
            assert used.network["stem_channels"] == 8 and used.source == run_dir / "config.json"


def test_a_supernet_checkpoint_away_from_its_run_is_one_line(run_dir, tmp_path):
    moved = tmp_path / "checkpoints" / "step0000001.pt"
    moved.parent.mkdir()
    moved.write_bytes((run_dir / "checkpoints" / "step0000001.pt").read_bytes())
    with pytest.raises(UserError, match=f"no config.json of its run is beside it or in {tmp_path}$"):
        open_model(moved)


def test_schema_errors_are_one_line(retrain_dir, run_dir, tmp_path):
    state = load_checkpoint(retrain_dir / "checkpoint.pt")
    cases = {
        "no_settings": ({**state, "meta": {k: v for k, v in state["meta"].items() if k != "settings"}},
                        "damaged or from another tool: missing key meta.settings"),
        "no_members": ({**state, "members": []}, "damaged retrain checkpoint \\(no member weights\\)"),
        "wrong_weights": ({**state, "members": [{**state["members"][0], "model": {"stem.0.weight": torch.zeros(1)}}]},
                          "member 0's weights do not fit its recorded network settings"),
        "foreign": ({"epoch": 3}, "neither a retrain nor a supernet training checkpoint"),
    }
    for name, (content, message) in cases.items():
        save_checkpoint(tmp_path / name / "checkpoint.pt", content)
        with pytest.raises(UserError, match=message):
            samplenas.load_model(tmp_path / name)
    with pytest.raises(UserError, match="member 2 is out of range 0..1"):
        samplenas.load_model(retrain_dir, member=2)
    with pytest.raises(UserError, match="retrained network of one architecture"):
        samplenas.load_model(retrain_dir, arch="1,2,3")
    with pytest.raises(UserError, match="names its own architecture"):
        samplenas.load_model(run_dir / "top.json", arch="1,2,3")
    with pytest.raises(UserError, match="does not exist"):
        samplenas.load_model(tmp_path / "missing")


class Payload:  # a class torch.load(weights_only=True) must refuse to construct
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_never_unpickles(tmp_path, capsys):
    (tmp_path / "evil").mkdir()
    torch.save({"meta": Payload()}, tmp_path / "evil" / "checkpoint.pt")
    with pytest.raises(UserError, match="cannot be read"):
        samplenas.load_model(tmp_path / "evil")
    assert "unpickled!" not in capsys.readouterr().out


def test_import_samplenas_stays_light():
    code = "import sys, samplenas; assert callable(samplenas.load_model); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_moved_run_loads_its_own_weights_not_a_namesake_in_the_current_folder(run_dir, tmp_path, monkeypatch):
    """top.json names its run as the search was given it (here relative, "a"); a run of that name in
    the current folder must not be taken for it: the folder holding top.json is its run."""
    import shutil

    moved, namesake = tmp_path / "moved" / "a", tmp_path / "cwd" / "a"
    shutil.copytree(run_dir, moved)
    shutil.copytree(run_dir, namesake)
    top = json.loads((moved / "top.json").read_text())
    (moved / "top.json").write_text(json.dumps({**top, "run": "a"}))
    monkeypatch.chdir(tmp_path / "cwd")
    assert open_model(moved / "top.json").source == str(moved.resolve() / "checkpoint.pt")
    alone = tmp_path / "copied" / "top.json"  # copied out of its run: the run it names, from here
    alone.parent.mkdir()
    shutil.copy(moved / "top.json", alone)
    assert open_model(alone).source == str(Path("a") / "checkpoint.pt")


@pytest.mark.parametrize("device, message", [
    ("tpu", "'tpu' is not a device samplenas runs on"), ("meta", "'meta' is not a device samplenas runs on"),
    ("cuda:99", "cuda:99' requested but"),
])
def test_a_device_this_machine_lacks_is_one_line(device, message, tmp_path):
    with pytest.raises(UserError, match=message):
        samplenas.load_model(tmp_path / "missing", device=device)
