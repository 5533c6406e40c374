"""VAENAS sampler: uniform before training, Algorithm 1's top-K set, always-valid decoding."""

from __future__ import annotations

import pytest

from samplenas.errors import UserError
from samplenas.samplers.uniform import UniformSampler
from samplenas.samplers.vae import VAESampler
from samplenas.spaces import SPACES

TINY = {"iters": 5, "batch_size": 16, "embed_dim": 8, "hidden_dim": 16, "latent_dim": 4}


def test_untrained_vae_samples_uniformly():
    space = SPACES["nb101"]()
    assert VAESampler(space, seed=3, **TINY).sample(5) == UniformSampler(space, seed=3).sample(5)


def test_training_set_is_the_top_k_percent():
    space = SPACES["shufflenet"]()
    sampler = VAESampler(space, top_percent=25, fit_on_observe=False, **TINY)
    archs = UniformSampler(space, seed=0).sample(8)
    sampler.observe(archs, list(range(8)))
    assert sampler.training_set() == [archs[7], archs[6]]


def test_decoded_samples_are_always_valid(space):
    sampler = VAESampler(space, seed=0, **TINY)
    archs = UniformSampler(space, seed=1).sample(30)
    sampler.observe(archs, [float(sum(a)) for a in archs])
    assert sampler.rounds == 1 and set(sampler.last_loss) == {"loss", "recon", "kl"}
    assert all(space.is_valid(a) for a in sampler.sample(300))


def test_training_lowers_the_loss():
    space = SPACES["nb101"]()
    sampler = VAESampler(space, seed=0, fit_on_observe=False, **{**TINY, "iters": 3})
    archs = UniformSampler(space, seed=1).sample(4) * 16  # a peaked distribution the VAE can learn
    sampler.observe(archs, [1.0] * 64)
    first = sampler.fit()["recon"]
    assert sampler.fit(iters=400)["recon"] < first / 2


def test_fit_without_observations_and_mismatched_state_are_clear_errors():
    space = SPACES["nb101"]()
    with pytest.raises(UserError, match="nothing observed"):
        VAESampler(space, **TINY).fit()
    state = VAESampler(space, **TINY).state_dict()
    with pytest.raises(UserError, match="does not match"):
        VAESampler(space, **{**TINY, "hidden_dim": 8}).load_state_dict(state)
