"""Deep-n-Cheap configurations: the paper's rules, the stage-2 grids, building and the retrain codec."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from samplenas.population import dnc_space as ds
from samplenas.spaces.base import InvalidArchitecture
from samplenas.supernet import SUPERNETS


def test_stage1_cnns_follow_the_channel_rules(rng):
    spec = ds.default_spec("cnn")
    for _ in range(300):
        net = ds.net_from_unit(spec, rng.random(ds.arch_dims(spec)))
        assert 4 <= net.layers <= 16
        assert 16 <= net.widths[0] <= 64
        for a, b in zip(net.widths, net.widths[1:]):
            assert a <= b <= min(2 * a, 512)
        assert net.bn == (1,) * net.layers and net.dropout == (0.3,) * net.layers
        # one downsampling before the first layer above each of 64, 128, 256
        for threshold in (64, 128, 256):
            crossing = next((i for i, c in enumerate(net.widths) if c > threshold and i > 0), None)
            if crossing is not None and net.widths[0] <= threshold:
                assert net.down[crossing - 1] == ds.DOWN_POOL
        assert sum(net.down) <= 3
        assert any(net.shortcut) == (net.layers > 8)


def test_stage1_mlps_follow_the_rules(rng):
    spec = ds.default_spec("mlp")
    counts = set()
    for _ in range(200):
        net = ds.net_from_unit(spec, rng.random(ds.arch_dims(spec)))
        counts.add(net.layers)
        assert all(20 <= w <= 400 for w in net.widths) and net.dropout == (0.2,) * net.layers
    assert counts == {0, 1, 2}


def test_paper_examples_of_the_grids():
    # 7 layers, BN fraction 1/2 -> after conv layers 2, 4, 6 and 7 (paper section 3.1)
    assert ds.spread(7, 0.5) == (0, 1, 0, 1, 0, 1, 1)
    assert ds.spread(7, 0) == (0,) * 7 and ds.spread(7, 1) == (1,) * 7
    assert ds.shortcuts(16, 2) == (1, 0) * 7 + (0, 0)
    assert ds.shortcuts(16, 4) == (1, 0, 0, 0) * 4
    spec = ds.default_spec("cnn")
    net = ds.stage1_net(spec, [50, 52, 70, 140, 300])
    assert [n.down for n in ds.grid_downsampling(net)] == [
        (0, 1, 1, 1, 0), (0, 2, 1, 1, 0), (0, 1, 2, 1, 0), (0, 2, 2, 1, 0),
        (0, 1, 1, 2, 0), (0, 2, 1, 2, 0), (0, 1, 2, 2, 0), (0, 2, 2, 2, 0)]
    drops = ds.grid_dropout(net, [0, 1], [0.1, 0.2], [0.15, 0.3, 0.45])
    assert drops[0].dropout == (0.0,) * 5 and len(drops) == 1 + 3 * 2
    assert drops[1].dropout == (0.1, 0.15, 0.15, 0.15, 0.15)


def test_weight_decay_preset_rule():
    assert ds.preset_weight_decay("cnn", 999_999) == 0.0
    assert ds.preset_weight_decay("cnn", 10_000_000) == pytest.approx(1e-4)
    assert ds.preset_weight_decay("mlp", 9_999) == 0.0
    assert ds.preset_weight_decay("mlp", 100_000) == pytest.approx(1e-4)


def test_stage3_ranges_and_zero_weight_decay(rng):
    spec = ds.default_spec("mlp")
    hypers = [ds.hyper_from_unit(spec, rng.random(3)) for _ in range(500)]
    assert all(1e-5 * 0.999 <= h.lr <= 0.1 * 1.001 for h in hypers)
    assert all(32 <= h.batch_size <= 512 for h in hypers)
    assert all(h.weight_decay == 0 or 1e-5 * 0.999 <= h.weight_decay <= 1e-3 * 1.001 for h in hypers)
    zero = sum(h.weight_decay == 0 for h in hypers) / len(hypers)
    assert 0.2 < zero < 0.47  # the lowest of three decades


@pytest.mark.parametrize("widths,down,shortcut", [
    ([16, 32, 70, 70, 140, 140, 300, 300, 300], None, 2),
    ([20, 40, 80, 80], (0, 2, 0, 0), 0),
])
def test_cnns_build_and_run_with_downsampling_and_shortcuts(widths, down, shortcut):
    spec = ds.default_spec("cnn")
    net = ds.stage1_net(spec, widths)
    net = ds.grid_shortcuts(net, [shortcut or math.inf])[0]
    if down is not None:
        net = ds.DncNet("cnn", net.widths, net.dropout, down, net.bn, net.shortcut)
    model = ds.build_net(net, 3, 32, 10)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_mlp_builds_with_and_without_hidden_layers():
    for widths in ([], [30], [30, 40]):
        net = ds.stage1_net(ds.default_spec("mlp"), widths)
        model = ds.build_net(net, 1, 8, 10)
        assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)
        expected, fan_in = 0, 64
        for w in widths + [10]:
            expected += fan_in * w + w
            fan_in = w
        assert ds.count_params(model) == expected


def test_codec_round_trips_and_rejects_nonsense(rng):
    codec = ds.DncCodec()
    for kind in ("cnn", "mlp"):
        spec = ds.default_spec(kind)
        for _ in range(20):
            net = ds.net_from_unit(spec, rng.random(ds.arch_dims(spec)))
            ints = ds.encode(net)
            assert ds.decode(ints) == net
            assert codec.parse(codec.to_str(ints)) == ints
            assert codec.parse(",".join(map(str, ints))) == ints
    for bad in ("[1,2]", "{\"kind\": \"rnn\", \"widths\": [], \"dropout\": []}", "1,3,5", "x"):
        with pytest.raises(InvalidArchitecture):
            codec.parse(bad)


def test_supernet_registry_builds_dnc_networks_for_retrain():
    networks = SUPERNETS["dnc"](num_classes=10, in_channels=1, image_size=8)
    arch = networks.space.parse('{"kind":"mlp","widths":[32],"dropout":[0.1]}')
    model = networks.build(arch)
    cost = networks.cost(arch)
    assert cost["params"] == ds.count_params(model) == 64 * 32 + 32 + 32 * 10 + 10
    assert cost["macs"] == 64 * 32 + 32 * 10


def test_features_are_in_the_unit_cube(rng):
    for kind in ("cnn", "mlp"):
        spec = ds.default_spec(kind)
        feats = np.stack([ds.arch_features(spec, ds.net_from_unit(spec, rng.random(ds.arch_dims(spec))))
                          for _ in range(200)])
        assert feats.min() >= 0 and feats.max() <= 1


def test_step_schedule_is_the_paper_decay():
    from samplenas.training.recipes import Recipe, learning_rate

    recipe = Recipe(lr=1e-3, schedule="step", optimizer="adam")
    assert [learning_rate(recipe, s, 100) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [1e-3, 1e-3, 2e-4, 2e-4, 4e-5, 4e-5])
