"""`samplenas export`: the files load and run in a Python that cannot import samplenas, and agree with
the network they came from to 1e-5 (torch.export for every space, ONNX checked by onnx's reference
evaluator since no ONNX runtime is a dependency)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import onnx
import pytest
import torch

from samplenas.cli import export as export_cli
from samplenas.cli import main
from samplenas.errors import UserError
from samplenas.spaces.nasnet import PDARTS, NASNetSpace
from samplenas.training import export as export_lib
from samplenas.training.export import export_model
from samplenas.training.models import open_model

TRAIN = {  # tiny supernet runs on the embedded 8x8 digits (as tests/training/test_search.py)
    "nb101": {"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1},
    "nasnet": {"C": 4, "layers": 3, "ops": "darts"},
    "shufflenet": {"stage_channels": [8, 16, 24, 32], "stem_channels": 4, "last_channels": 16},
    "autoencoder": {"max_layers": 3},
}

# Run with `python -I` in a folder outside the repository. -I alone does not hide an editable install
# (its finder lives in site-packages), so every samplenas import is refused before anything loads.
ISOLATED = r"""
import json, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "samplenas" or name.startswith("samplenas."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Refuse())
try:
    import samplenas  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    sys.exit("samplenas is importable here")

import numpy as np
import torch

cases = json.loads(sys.argv[1])
report = {}
for case in cases:
    data = torch.load(case["io"], weights_only=True)
    x, expected = data["x"], data["y"]
    if case["format"] == "exported-program":
        extra = {"samplenas.json": ""}
        program = torch.export.load(case["file"], extra_files=extra)  # one load: program and metadata
        got = program.module()(x)
        meta = json.loads(extra["samplenas.json"])
    elif case["format"] == "onnx":
        import onnx
        from onnx.reference import ReferenceEvaluator
        model = onnx.load(case["file"])
        onnx.checker.check_model(model)
        (name,) = [i.name for i in model.graph.input]
        got = torch.from_numpy(ReferenceEvaluator(model).run(None, {name: x.numpy()})[0])
        meta = {p.key.removeprefix("samplenas."): json.loads(p.value) for p in model.metadata_props}
    else:
        state = torch.load(case["file"], weights_only=True)
        got = torch.cat([t.flatten().float() for t in state.values()])
        meta = {}
    report[case["file"]] = {"max_abs": float((got - expected).abs().max()), "shape": list(got.shape),
                            "space": meta.get("space"), "arch": meta.get("arch")}
print(json.dumps(report))
"""


def run_isolated(cases: list[dict], cwd) -> dict:
    done = subprocess.run([sys.executable, "-I", "-c", ISOLATED, json.dumps(cases)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def train_and_search(space: str, run) -> None:
    sampler = ["--sampler", "uniform"] + (["--task", "denoising"] if space == "autoencoder" else [])
    assert main(["train", "--space", space, *sampler, "--out", str(run), "--steps", "3", "--batch-size", "8",
                 "--eval-every", "3", "--eval-archs", "2", "--eval-examples", "16", "--bn-batches", "1",
                 "--network", json.dumps(TRAIN[space]), "--quiet"]) == 0
    assert main(["search", "--run", str(run), "--population", "2", "--generations", "1", "--children", "1",
                 "--top", "2", "--quiet"]) == 0


def assert_scored_as_searched(score: dict, scorer: str, entry: dict) -> None:
    """The supernet metrics of a loaded network equal those top.json recorded; a hybrid search (nb101's default)
    keeps the supernet's metrics under "supernet_"."""
    if scorer == "supernet":
        assert score == {"score": entry["score"], **entry["metrics"]}
        return
    supernet = {k.removeprefix("supernet_"): v for k, v in entry["metrics"].items() if k.startswith("supernet_")}
    assert supernet and {k: v for k, v in score.items() if k != "score"} == supernet


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One searched tiny supernet run per space."""
    paths = {}
    for space in TRAIN:
        paths[space] = tmp_path_factory.mktemp(f"run_{space}")
        train_and_search(space, paths[space])
    return paths


def export_search_winner(space: str, run, folder) -> dict:
    """Export `run`'s best architecture in both self-contained formats through the CLI; what the tests check."""
    top = run / "top.json"
    loaded = open_model(top)
    report = json.loads(top.read_text())
    x = torch.randn(3, *loaded.input_shape)  # batch 3: the exported batch dimension is dynamic
    with torch.no_grad():
        expected = loaded.net(x)
    torch.save({"x": x, "y": expected}, folder / "io.pt")
    cases, printed = [], []
    for fmt, name in (("exported-program", "net.pt2"), ("onnx", "net.onnx")):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["export", "--from", str(top), "--format", fmt, "--out", str(folder / name)]) == 0
        printed.append(json.loads(out.getvalue()))
        cases.append({"format": fmt, "file": str(folder / name), "io": str(folder / "io.pt")})
    return {"loaded": loaded, "report": report, "expected": expected, "cases": cases, "printed": printed}


def retrain_and_export_darts_cell(folder) -> dict:
    """A P-DARTS cell (dil_conv_5x5: the DARTS op set) retrained for three steps, exported in all three formats."""
    space = NASNetSpace("darts")
    arch = space.to_str(space.from_genotype(*PDARTS))
    retrain = folder / "retrain"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["retrain", "--space", "nasnet", "--arch", arch, "--out", str(retrain), "--epochs", "1",
                     "--batch-size", "16", "--limit", "48", "--network", '{"C": 4, "layers": 3, "ops": "darts"}',
                     "--quiet"]) == 0
    loaded = open_model(retrain)
    x = torch.randn(5, *loaded.input_shape)
    with torch.no_grad():
        expected = loaded.net(x)
    torch.save({"x": x, "y": expected}, folder / "io.pt")
    weights = torch.cat([t.flatten().float() for t in loaded.net.state_dict().values()])
    torch.save({"x": x, "y": weights}, folder / "weights.pt")
    cases, summaries = [], []
    for fmt, name in (("exported-program", "p.pt2"), ("onnx", "p.onnx"), ("state-dict", "p.pt")):
        summaries.append(export_model(retrain, fmt, folder / name))
        io_file = folder / ("weights.pt" if fmt == "state-dict" else "io.pt")
        cases.append({"format": fmt, "file": str(folder / name), "io": str(io_file)})
    return {"arch": arch, "retrain": retrain, "loaded": loaded, "x": x, "expected": expected, "cases": cases,
            "summaries": summaries, "folder": folder}


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):
    """Every space's search winner and a retrained DARTS cell, exported, then all files run in ONE isolated
    Python (starting torch and its exporters' loaders once instead of once per case)."""
    done = {space: export_search_winner(space, runs[space], tmp_path_factory.mktemp(f"export_{space}"))
            for space in TRAIN}
    done["darts"] = retrain_and_export_darts_cell(tmp_path_factory.mktemp("export_darts"))
    outside = tmp_path_factory.mktemp("elsewhere")
    report = run_isolated([case for entry in done.values() for case in entry["cases"]], outside)
    for entry in done.values():
        entry["isolated"] = {case["file"]: report[case["file"]] for case in entry["cases"]}
    return done


@pytest.mark.slow
@pytest.mark.parametrize("space", sorted(TRAIN))
def test_search_winner_exports_and_runs_without_samplenas(space, exported):
    entry = exported[space]
    loaded, report = entry["loaded"], entry["report"]
    best = report["top"][0]
    assert loaded.kind == "extracted" and loaded.arch == best["arch"]
    # the extracted network is calibrated as the search scored it: same validation metrics, exactly
    assert_scored_as_searched(loaded.score, report["scorer"], best)
    for case, printed in zip(entry["cases"], entry["printed"]):
        assert printed["arch"] == best["arch"] and printed["format"] == case["format"] and printed["space"] == space
        result = entry["isolated"][case["file"]]
        # ONNX Runtime runs its own conv kernels, whose rounding differs by CPU (2.6e-5 seen on one)
        assert result["max_abs"] <= (1e-4 if case["format"] == "onnx" else 1e-5), (case["format"], result)
        assert result["shape"] == list(entry["expected"].shape)
        assert (result["space"], result["arch"]) == (space, best["arch"])  # metadata travels in the file


@pytest.mark.slow
def test_retrained_darts_cell_round_trips_in_every_format(exported):
    """The checkpoint reloads with its op set, and all three formats reproduce the network outside samplenas."""
    entry = exported["darts"]
    loaded, folder = entry["loaded"], entry["folder"]
    assert loaded.kind == "retrain" and loaded.arch == entry["arch"] and loaded.settings["ops"] == "darts"
    assert all(s["settings"]["ops"] == "darts" and s["kind"] == "retrain" for s in entry["summaries"])
    assert all(result["max_abs"] <= 1e-5 for result in entry["isolated"].values()), entry["isolated"]
    # the state dict loads into the network samplenas rebuilds from the printed description
    rebuilt = open_model(entry["retrain"]).net
    rebuilt.load_state_dict(torch.load(folder / "p.pt", weights_only=True))
    assert torch.allclose(rebuilt(entry["x"]), entry["expected"], atol=1e-6)
    assert {p.key for p in onnx.load(folder / "p.onnx").metadata_props} >= {"samplenas.arch", "samplenas.settings"}


def test_refuses_to_overwrite_and_bad_input_before_work(tmp_path, capsys):
    out = tmp_path / "exists.pt2"
    out.write_text("keep me")
    assert main(["export", "--from", str(tmp_path), "--format", "exported-program", "--out", str(out)]) == 2
    assert "exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main(["export", "--from", str(tmp_path / "nope"), "--format", "onnx", "--out", str(tmp_path / "a")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(UserError, match="unknown export format 'tflite'; valid: exported-program, onnx, state-dict"):
        export_model(tmp_path, "tflite", tmp_path / "b")
    with pytest.raises(UserError, match="is a folder"):
        export_model(tmp_path, "onnx", tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot be read"):
        export_model(tmp_path, "state-dict", tmp_path / "c.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "exists.pt2"]  # nothing half-written


def test_overwrite_replaces_atomically(runs, tmp_path):
    out = tmp_path / "w.pt"
    out.write_text("old")
    top = runs["nb101"] / "top.json"
    export_model(top, "state-dict", out, overwrite=True)
    saved, net = torch.load(out, weights_only=True), open_model(top).net
    assert saved.keys() == net.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in net.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]  # no temporary file left behind


def test_a_run_exports_the_architecture_asked_for(runs, tmp_path, capsys):
    with pytest.raises(UserError, match="is a supernet run: export its search's top.json, or choose an architecture"):
        export_model(runs["nb101"], "exported-program", tmp_path / "x.pt2")
    second = json.loads((runs["nb101"] / "top.json").read_text())["top"][1]
    out = tmp_path / "second.pt"
    assert main(["export", "--from", str(runs["nb101"]), "--arch", second["arch"], "--format", "state-dict",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.err.startswith("export: using data=digits data_dir=None network={")  # before it starts, on stderr
    assert printed.err.endswith(f"from {runs['nb101'] / 'config.json'}\n")
    printed = json.loads(printed.out)  # stdout stays one JSON object
    assert printed["arch"] == second["arch"]
    assert_scored_as_searched(printed["score"], json.loads((runs["nb101"] / "top.json").read_text())["scorer"], second)


def test_cli_format_choices_match_the_library():
    assert export_cli.FORMATS == export_lib.FORMATS
