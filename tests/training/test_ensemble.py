"""Encoder features of an autoencoder: what enters the decoder, pooled, without running the decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from samplenas.supernet import SUPERNETS
from samplenas.training.ensemble import latent_features


def test_latent_features_are_the_decoder_input_pooled_and_the_decoder_does_not_run():
    supernet = SUPERNETS["autoencoder"](in_channels=1, image_size=16)
    net = supernet.build(supernet.space.from_str("3x3conv2d:8")).eval()
    half = len(net.steps) // 2
    seen = {}

    def record(name):
        return lambda module, args, *out: seen.update({name: args[0]})  # returns None: changes nothing

    hooks = [net.ops[half].register_forward_pre_hook(record("input")),
             net.ops[-1].register_forward_hook(record("last"))]
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        net(x)
    expected = F.adaptive_avg_pool2d(seen.pop("input"), 4).flatten(1)
    seen.clear()
    features = latent_features(net, x)
    assert torch.equal(features, expected) and features.shape == (3, 32 * 4 * 4)
    assert "last" not in seen  # the pass stopped at the decoder
    for hook in hooks:
        hook.remove()
    assert net(x).shape == x.shape  # no hook left behind
