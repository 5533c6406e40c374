import json

import numpy as np
import pytest
import torch

from samplenas.cli import main
from samplenas.errors import UserError
from samplenas.hardware import LatencyModel, full_settings, read_table, write_table
from samplenas.hardware.blocks import block_spec
from samplenas.hardware.latency import fit_scale
from samplenas.hardware.table import FORMAT, VERSION
from samplenas.spaces.nasbench101 import EDGES

TINY = {
    "nb101": {"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1, "image_size": 8},
    "nasnet": {"C": 4, "layers": 3, "image_size": 8},
    "shufflenet": {"stage_channels": [8, 16, 24, 32], "stem_channels": 4, "last_channels": 16, "image_size": 8},
    "autoencoder": {"image_size": 8, "max_layers": 3},
}


def synthetic_table(space: str, seed: int = 0, scale: float = 1.0) -> dict:
    """A table for TINY[space] whose every block has a distinct random time (no measuring)."""
    settings = full_settings(space, TINY[space])
    spec = block_spec(space, settings)
    rng = np.random.default_rng(seed)
    return {
        "format": FORMAT, "version": VERSION, "space": space, "network": settings, "batch_size": 1,
        "device": {"type": "cpu", "name": "test cpu", "threads": 1, "torch": torch.__version__},
        "protocol": {"warmup": 0, "repeats": 1, "rounds": 1}, "created": "2026-01-01T00:00:00+00:00",
        "blocks": {b.key: float(rng.uniform(0.1, 2.0)) for b in spec.table_blocks()},
        "fixed": {b.key: float(rng.uniform(0.1, 2.0)) for b in spec.fixed_parts()},
        "correction": {"scale": scale, "networks": 0},
    }


def archs_with_every_choice(space, rng, tries: int = 400):
    """For every (position, choice) a valid architecture holding it, found from random samples."""
    found = {}
    for _ in range(tries):
        base = list(space.sample(rng))
        for position, dim in enumerate(space.dims):
            for choice in range(dim):
                if (position, choice) in found:
                    continue
                arch = tuple(base[:position] + [choice] + base[position + 1:])
                if space.is_valid(arch):
                    found[(position, choice)] = arch
        if len(found) == sum(space.dims):
            break
    return found


@pytest.mark.parametrize("space", sorted(TINY))
def test_table_keys_cover_every_choice_of_the_space(space):
    spec = block_spec(space, full_settings(space, TINY[space]))
    keys = {b.key for b in spec.table_blocks()}
    found = archs_with_every_choice(spec.space, np.random.default_rng(0))
    never_valid = {(0, 0)} if space == "autoencoder" else set()  # the first layer cannot be empty
    expected = {(p, c) for p, dim in enumerate(spec.space.dims) for c in range(dim)} - never_valid
    assert set(found) == expected  # every choice at every position, in some valid arch
    for arch in set(found.values()):
        missing = {b.key for b in spec.arch_blocks(arch)} - keys
        assert not missing, f"{spec.space.to_str(arch)} uses blocks the table does not measure: {sorted(missing)[:3]}"


@pytest.mark.parametrize("space", sorted(TINY))
def test_every_table_block_and_fixed_part_runs_at_its_shape(space):
    spec = block_spec(space, full_settings(space, TINY[space]))
    with torch.inference_mode():
        for block in spec.table_blocks() + spec.fixed_parts():
            module, shapes = spec.make(block)
            module.eval()(*[torch.randn(2, *shape) for shape in shapes])


@pytest.mark.parametrize("batch_norm, affine", [("affine", True), ("non-affine", False), ("private-width", True)])
def test_nb101_cell_blocks_follow_the_networks_batch_norm(batch_norm, affine):
    spec = block_spec("nb101", full_settings("nb101", {**TINY["nb101"], "batch_norm": batch_norm}))
    cell_blocks = [b for b in spec.table_blocks() if b.slot == "projection" or b.choice in ("conv3x3", "conv1x1")]
    assert cell_blocks
    for block in cell_blocks:
        norms = [m for m in spec.make(block)[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert [n.affine for n in norms] == [affine]
    stem = [b for b in spec.fixed_parts() if b.slot == "stem"][0]
    assert spec.make(stem)[0][1].affine  # the stem's BN is the same in every setting
    fixed = {**TINY["nb101"], "vertex_widths": "fixed", "batch_norm": batch_norm}
    with pytest.raises(UserError, match="official vertex widths only"):
        block_spec("nb101", full_settings("nb101", fixed))


def test_shufflenet_blocks_receive_the_shapes_the_network_gives_them():
    spec = block_spec("shufflenet", full_settings("shufflenet", TINY["shufflenet"]))
    from samplenas.supernet.factory import make_supernet

    supernet = make_supernet("shufflenet", spec_settings := full_settings("shufflenet", TINY["shufflenet"]))
    arch = (0, 1, 2, 3) * 5
    network, seen = supernet.build(arch).eval(), []
    for layer in network.layers:
        next(iter(layer.values())).register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[1:])))
    network(torch.randn(1, 3, spec_settings["image_size"], spec_settings["image_size"]))
    assert seen == [b.input_shape for b in spec.arch_blocks(arch)]


@pytest.mark.parametrize("space", sorted(TINY))
def test_prediction_is_the_corrected_sum_of_the_archs_blocks(space):
    table = synthetic_table(space, scale=1.5)
    model = LatencyModel(table)
    fixed = sum(table["fixed"].values())
    rng = np.random.default_rng(1)
    for _ in range(20):
        arch = model.space.sample(rng)
        blocks = sum(table["blocks"][b.key] for b in model.spec.arch_blocks(arch))
        assert model.block_sum(arch) == pytest.approx(blocks + fixed, rel=1e-12)
        assert model.predict(arch) == pytest.approx(1.5 * (blocks + fixed), rel=1e-12)
        assert model.cost(arch) == model.predict(arch)


def test_changing_one_shufflenet_layer_changes_the_prediction_by_that_blocks_difference():
    table = synthetic_table("shufflenet", scale=2.0)
    model = LatencyModel(table)
    a, b = (0,) * 20, (0,) * 7 + (3,) + (0,) * 12
    shape = model.spec.arch_blocks(a)[7].input_shape
    key = "x".join(map(str, shape))
    difference = table["blocks"][f"layer7|xception_3x3|{key}"] - table["blocks"][f"layer7|shuffle_3x3|{key}"]
    assert model.predict(b) - model.predict(a) == pytest.approx(2.0 * difference, rel=1e-9)


def test_a_block_missing_from_the_table_is_a_user_error():
    table = synthetic_table("nasnet")
    table["blocks"] = {k: v for k, v in table["blocks"].items() if "sep_conv_3x3" not in k}
    model = LatencyModel(table)
    with pytest.raises(UserError, match="no entry for block"):
        model.predict((4,) * 28)


def test_fit_scale_recovers_a_known_scale_exactly():
    sums = np.random.default_rng(0).uniform(0.5, 20.0, size=12)
    assert fit_scale(list(sums), list(1.37 * sums)) == pytest.approx(1.37, rel=1e-12)
    assert fit_scale([4.0], [10.0]) == pytest.approx(2.5, rel=1e-12)  # one network is enough


def test_fit_scale_is_least_squares_through_the_origin():
    sums, measured = [1.0, 2.0, 3.0], [1.0, 3.0, 3.0]
    scale = fit_scale(sums, measured)
    assert scale == pytest.approx((1 + 6 + 9) / (1 + 4 + 9), rel=1e-12)

    def loss(s):
        return sum((m - s * x) ** 2 for x, m in zip(sums, measured))

    assert loss(scale) < min(loss(scale - 1e-3), loss(scale + 1e-3))


def test_fit_scale_without_networks_keeps_the_plain_sum():
    assert fit_scale([], []) == 1.0
    assert fit_scale([0.0], [3.0]) == 1.0


def test_a_version_1_table_is_refused_in_one_line_saying_to_measure_again(tmp_path, capsys):
    table = synthetic_table("nb101")
    table["version"] = 1
    table["correction"] = {"scale": 1.05, "offset_ms": 1.9, "networks": 8}  # what version 1 wrote
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(table))
    with pytest.raises(UserError, match="version 1, whose correction had an offset"):
        LatencyModel.load(path)
    assert main(["latency", "predict", "--table", str(path), "0"]) == 2
    err = capsys.readouterr().err
    assert "samplenas latency measure" in err and err.count("\n") == 1


def test_table_round_trips_and_refuses_another_space_size_or_batch(tmp_path):
    table = synthetic_table("nb101")
    path = write_table(tmp_path / "t.json", table)
    assert read_table(path) == table
    model = LatencyModel.load(path)
    model.require(space="nb101", network=TINY["nb101"], batch_size=1, device=table["device"])
    # how the supernet shares weights does not change the networks timed; a table written before the setting
    # existed holds no weight_key
    model.require(space="nb101", network={**TINY["nb101"], "weight_key": "depth"})
    assert "weight_key" not in table["network"]
    with pytest.raises(UserError, match="space nb101, not nasnet"):
        model.require(space="nasnet")
    with pytest.raises(UserError, match="stem_channels=8, not 16"):
        model.require(space="nb101", network={**TINY["nb101"], "stem_channels": 16})
    with pytest.raises(UserError, match="batch size 1, not 8"):
        model.require(batch_size=8)
    with pytest.raises(UserError, match="device name"):
        model.require(device={**table["device"], "name": "another cpu"})
    with pytest.raises(UserError, match="input_output_edge='encoded', not 'always'"):
        model.require(space="nb101", network={**TINY["nb101"], "input_output_edge": "always"})


def test_a_table_older_than_a_network_setting_is_read_with_its_default(tmp_path):
    table = synthetic_table("nb101")
    del table["network"]["input_output_edge"]
    model = LatencyModel.load(write_table(tmp_path / "old.json", table))
    model.require(space="nb101", network=TINY["nb101"])
    with pytest.raises(UserError, match="input_output_edge='encoded', not 'always'"):
        model.require(space="nb101", network={**TINY["nb101"], "input_output_edge": "always"})


def test_nb101_blocks_of_a_cell_given_the_input_output_edge_add_its_projection_and_sum():
    bits = [int(edge in {(0, 1), (1, 2), (2, 6)}) for edge in EDGES]  # a chain without the edge 0 -> 6
    chain = tuple(bits) + (0,) * 5
    encoded = block_spec("nb101", full_settings("nb101", TINY["nb101"])).arch_blocks(chain)
    always = block_spec("nb101", full_settings("nb101", {**TINY["nb101"], "input_output_edge": "always"}))
    added = [block.key for block in always.arch_blocks(chain)]
    for block in encoded:
        added.remove(block.key)
    # per slot (8 -> 8 channels at 8x8, 8 -> 16 at 4x4): the input projected to the output's width, and the sum
    assert sorted(added) == ["projection|to16|8x4x4", "projection|to8|8x8x8", "sum|add|16x4x4", "sum|add|8x8x8"]



@pytest.mark.parametrize("corrupt, message", [
    (lambda t: t.update(format="other"), "not a samplenas latency table"),
    (lambda t: t.update(version=99), "version 99"),
    (lambda t: t.pop("blocks"), "no 'blocks' field"),
    (lambda t: t["blocks"].update({"x|y|1x1x1": -1.0}), "non-negative number"),
    (lambda t: t["correction"].update(scale=0.0), "positive finite scale"),
    (lambda t: t["device"].pop("threads"), "no 'threads' field"),
    (lambda t: t.update(batch_size="1"), "must be int"),
])
def test_bad_table_files_are_one_line_errors(tmp_path, capsys, corrupt, message):
    table = synthetic_table("autoencoder")
    corrupt(table)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(table))
    with pytest.raises(UserError, match=message):
        read_table(path)
    assert main(["latency", "predict", "--table", str(path), "3x3conv2d:8"]) == 2
    err = capsys.readouterr().err
    assert message.split()[0] in err and err.count("\n") == 1


def test_write_table_refuses_a_bad_table_and_leaves_no_file(tmp_path):
    table = synthetic_table("nasnet")
    table["blocks"] = {}
    with pytest.raises(UserError, match="blocks is empty"):
        write_table(tmp_path / "t.json", table)
    assert list(tmp_path.iterdir()) == []


def test_not_json_and_missing_files_are_one_line_errors(tmp_path, capsys):
    path = tmp_path / "t.json"
    path.write_text("{not json")
    assert main(["latency", "predict", "--table", str(path), "0"]) == 2
    assert main(["latency", "predict", "--table", str(tmp_path / "none.json"), "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "not valid JSON" in err[0] and "does not exist" in err[1] and len(err) == 2


def test_cli_measures_a_tiny_table_and_predicts_from_it(tmp_path, capsys):
    path = tmp_path / "nb101.json"
    argv = ["latency", "measure", "--space", "nb101", "--network", json.dumps(TINY["nb101"]), "--warmup", "0",
            "--repeats", "2", "--rounds", "1", "--calibrate", "3", "--threads", "1", "-o", str(path)]
    assert main(argv) == 0
    table = read_table(path)
    assert table["network"] == full_settings("nb101", TINY["nb101"])
    correction = table["correction"]
    assert correction["networks"] == 3 and len(correction["measured_ms"]) == 3
    assert correction["scale"] == fit_scale(correction["sum_ms"], correction["measured_ms"])
    assert set(table["blocks"]) == {b.key for b in block_spec("nb101", table["network"]).table_blocks()}
    capsys.readouterr()
    model = LatencyModel.load(path)
    arch = model.space.to_str(model.space.sample(np.random.default_rng(3)))
    assert main(["latency", "predict", "--table", str(path), "--json", "--space", "nb101",
                 "--network", json.dumps(TINY["nb101"]), arch]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["predicted_ms"] == pytest.approx(model.predict(model.space.parse(arch)))
    assert main(["latency", "predict", "--table", str(path), "--space", "nasnet", arch]) == 2
    other = json.dumps({**TINY["nb101"], "stem_channels": 16})
    assert main(["latency", "predict", "--table", str(path), "--network", other, arch]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "not nasnet" in err[0] and "not 16" in err[1]


@pytest.mark.parametrize("extra, message", [
    (["--space", "nope"], "unknown space"),
    (["--space", "nasnet", "--network", '{"C": 0}'], "C must be at least 1"),
    (["--space", "autoencoder", "--network", '{"max_layers": 0}'], "max_layers must be >= 1"),
    (["--space", "nasnet", "--network", '{"width": 3}'], "no setting 'width'"),
    (["--space", "nasnet", "--repeats", "0"], "--repeats must be in"),
    (["--space", "nasnet", "--device", "tpu"], "--device must be"),
])
def test_cli_refuses_bad_measure_arguments_in_one_line(tmp_path, capsys, extra, message):
    path = tmp_path / "t.json"
    assert main(["latency", "measure", *extra, "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not path.exists()


@pytest.mark.parametrize("device, gpus, message", [
    ("cuda", 0, "--device cuda: no CUDA device is available here"),
    ("cuda:1", 0, "--device cuda:1: no CUDA device is available here"),
    ("cuda:1", 1, "--device cuda:1: this machine has 1 CUDA device(s), cuda:0 to cuda:0"),
])
def test_cuda_that_is_not_here_is_one_line_and_no_table(tmp_path, capsys, monkeypatch, device, gpus, message):
    """Whatever GPUs the test machine has, the CLI sees `gpus` of them."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    path = tmp_path / "t.json"
    assert main(["latency", "measure", "--space", "nasnet", "--device", device, "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not path.exists()
