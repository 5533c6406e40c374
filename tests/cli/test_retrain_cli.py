"""`samplenas retrain` / `samplenas evaluate`: a short retrain of every space, and bad input."""

from __future__ import annotations

import json

import pytest

from samplenas.cli import main

# tiny networks on the embedded 8x8 digits: a few steps each
SPACES = {
    "nb101": ("ops=conv3x3,conv1x1,maxpool3x3,conv3x3,conv3x3 edges=0-1,0-2,1-3,2-3,3-6,0-6",
              {"stem_channels": 6, "num_stacks": 2, "cells_per_stack": 1}, []),
    "nasnet": ("normal: node2=sep_conv_3x3<-0+skip_connect<-1; node3=sep_conv_3x3<-0+max_pool_3x3<-1; "
               "node4=avg_pool_3x3<-3; node5=dil_conv_3x3<-2 | reduce: node2=dil_conv_3x3<-0+sep_conv_5x5<-1; "
               "node3=sep_conv_5x5<-0; node4=max_pool_3x3<-1; node5=skip_connect<-1",
               {"C": 4, "layers": 3}, ["--cutout", "4"]),  # auxiliary head and drop-path from the recipe
    "shufflenet": ("xc3,7x7,7x7,5x5|5x5,3x3,3x3,3x3|3x3,xc3,7x7,xc3,7x7,7x7,xc3,7x7|7x7,7x7,7x7,xc3",
                   {"stage_channels": [16, 24, 32, 48], "stem_channels": 8, "last_channels": 32}, []),
    "autoencoder": ("5x5conv2d:16,3x3conv2d:8,dropout2d", {}, ["--task", "denoising"]),
}


def retrain_args(space: str, out, *extra: str) -> list[str]:
    arch, network, flags = SPACES[space]
    return ["retrain", "--space", space, "--arch", arch, "--out", str(out), "--epochs", "1", "--batch-size", "16",
            "--limit", "48", "--network", json.dumps(network), "--quiet", *flags, *extra]


@pytest.mark.parametrize("space", sorted(SPACES))
def test_short_retrain_of_every_space_then_evaluate(space, tmp_path, capsys):
    assert main(retrain_args(space, tmp_path)) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    result = json.loads((tmp_path / "result.json").read_text())
    assert printed["test"] == result["test"]
    assert result["space"] == space and result["steps"] == 3 and result["params"] > 0 and result["macs"] > 0
    assert result["command"][:4] == ["samplenas", "retrain", "--space", space]
    metric = "psnr" if space == "autoencoder" else "accuracy"
    assert metric in result["test"]
    assert list((tmp_path / "tensorboard").iterdir())

    assert main(["evaluate", "--checkpoint", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["test"] == result["test"]


@pytest.mark.parametrize("args, message", [
    (["--space", "nb101", "--arch", "ops=conv9x9 edges=0-6"], "nb101"),
    (["--space", "nb101", "--arch", SPACES["autoencoder"][0]], "nb101"),  # an autoencoder arch
    (["--space", "shufflenet", "--arch", "0,1,2"], "20"),  # wrong length
    (["--space", "autoencoder", "--arch", "3x3conv2d:8", "--data", "mnist"], "needs --data-dir"),
    (["--space", "autoencoder", "--arch", "3x3conv2d:8", "--data", "mnist", "--data-dir", "/nonexistent"],
     "does not exist"),
    (["--space", "autoencoder", "--arch", "3x3conv2d:8", "--data", "imagenet"], "unknown dataset"),
    (["--from", "/nonexistent/top.json"], "top.json"),
    (["--space", "nasnet", "--arch", "0," * 27 + "0", "--epochs", "-1"], "--epochs must be at least 1"),
    (["--space", "autoencoder", "--arch", "3x3conv2d:8", "--train-examples", "0"], "--train-examples must be at"),
    (["--space", "autoencoder", "--arch", "3x3conv2d:8", "--train-examples", "2000"], "exceeds the 1438 training"),
    (["--space", "nb101", "--arch", SPACES["nb101"][0], "--network", '{"colour": 1}'], "no setting 'colour'"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    assert main(["retrain", "--out", str(tmp_path / "run"), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("samplenas retrain: error:") and message in err
    assert not (tmp_path / "run" / "result.json").exists()


def test_evaluate_without_a_checkpoint(tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_retrain_from_a_search_takes_the_runs_data_and_network(tmp_path, capsys):
    """`retrain --from RUN/top.json` retrains at the supernet run's size on its data, and says so first."""
    network = {"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}
    run = tmp_path / "run"
    assert main(["train", "--space", "nb101", "--sampler", "uniform", "--out", str(run), "--steps", "2",
                 "--batch-size", "8", "--eval-every", "0", "--network", json.dumps(network), "--quiet"]) == 0
    assert main(["search", "--run", str(run), "--population", "2", "--generations", "1", "--children", "1",
                 "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "retrain"
    assert main(["retrain", "--from", str(run / "top.json"), "--out", str(out), "--epochs", "1", "--limit", "64",
                 "--batch-size", "16", "--optimizer", "sgd", "--lr", "0.05"]) == 0
    printed = capsys.readouterr().out.splitlines()[0]
    assert printed.startswith("retrain: using data=digits data_dir=None network={") and '"stem_channels": 8' in printed
    assert printed.endswith(f"from {run / 'config.json'}")
    result = json.loads((out / "result.json").read_text())
    assert result["data"] == "digits" and result["settings"]["stem_channels"] == 8
    assert result["settings"]["num_stacks"] == 2 and result["settings"]["cells_per_stack"] == 1


def test_retrain_refuses_mnist_files_named_fashion_mnist(data_dir, tmp_path, capsys):
    args = ["retrain", "--space", "autoencoder", "--arch", SPACES["autoencoder"][0], "--data", "fashion-mnist",
            "--data-dir", str(data_dir / "mnist"), "--out", str(tmp_path / "run"), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"samplenas retrain: error: data folder {data_dir / 'mnist'} holds MNIST, not Fashion-MNIST "
                   f"(train-images-idx3-ubyte.gz is MNIST's); point --data-dir at the Fashion-MNIST files")
    assert not (tmp_path / "run").exists()


def _tiny_mnist(folder) -> None:
    import struct

    import numpy as np

    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28))), ("labels-idx1", np.arange(n) % 10)):
            header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            (folder / f"{prefix}-{kind}-ubyte").write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("kind", ["samplenas-evolve-result-1", "samplenas-pbt-1"])
def test_retrain_from_a_population_result_takes_its_data_set(tmp_path, capsys, kind):
    """An evolve or pbt result.json records its data set: retrain uses it (not digits) and says so first."""
    _tiny_mnist(tmp_path / "mnist")
    result = tmp_path / "run" / "result.json"
    result.parent.mkdir()
    result.write_text(json.dumps({"format": kind, "space": "autoencoder", "data": "mnist", "task": "denoising",
                                  "recipe": {"task": "denoising", "network": {"max_layers": 2}},
                                  "top": [{"arch": "3x3conv2d:8"}]}))
    args = ["retrain", "--from", str(result), "--out", str(tmp_path / "out"), "--epochs", "1", "--batch-size", "8",
            "--quiet", "--device", "cpu"]
    assert main(args) == 2  # the run did not record its folder: the data set asks for one, in one line
    assert capsys.readouterr().err.strip() == "samplenas retrain: error: dataset 'mnist' needs --data-dir " \
                                              "(the embedded 'digits' needs none)"
    assert main([*args, "--data-dir", str(tmp_path / "mnist")]) == 0
    printed = capsys.readouterr().out.splitlines()[0]
    assert printed == (f"retrain: using data=mnist data_dir={tmp_path / 'mnist'} network={{\"max_layers\": 2}} "
                       f"from {result} (--data-dir as given)")
    retrained = json.loads((tmp_path / "out" / "result.json").read_text())
    assert retrained["data"] == "mnist" and retrained["task"] == "denoising"
    # a result that records its data folder (evolve and pbt write it) needs no flag
    result.write_text(json.dumps({**json.loads(result.read_text()), "data_dir": str(tmp_path / "mnist")}))
    assert main([*args[:4], str(tmp_path / "out2"), *args[5:]]) == 0
    printed = capsys.readouterr().out.splitlines()[0]
    assert printed == (f"retrain: using data=mnist data_dir={tmp_path / 'mnist'} network={{\"max_layers\": 2}} "
                       f"from {result}")
    assert retrained["settings"]["max_layers"] == 2
