"""Spaces and small-sized samplers for the sampler tests, plus a synthetic objective."""

from __future__ import annotations

import io

import pytest
import torch

from samplenas.samplers import SAMPLERS
from samplenas.spaces import SPACES

SPACE_NAMES = SPACES.names()
SAMPLER_NAMES = SAMPLERS.names()

# Small settings so the whole sampler suite stays fast on two shared CPU cores.
TINY_VAE = {"iters": 5, "batch_size": 16, "embed_dim": 8, "hidden_dim": 16, "latent_dim": 4}
SMALL_OPTIONS = {
    "evolution": {"population_size": 8, "tournament_size": 3},
    "vae": TINY_VAE,
    "mixture": {"inner_options": TINY_VAE, "epsilon_inc": 0.3},
    # min_observations below the 12 cells of two feedback rounds, so the predictor's choice is exercised
    "predictor": {"inner_options": {"inner_options": TINY_VAE, "epsilon_inc": 0.3}, "pool": 3, "mutate_top": 2,
                  "members": 2, "hidden": 8, "steps": 5, "min_observations": 6},
    "proxy-filter": {"inner": "evolution", "inner_options": {"population_size": 8, "tournament_size": 3}, "pool": 3},
}


def build_space(name: str):
    return SPACES[name]()


def build_sampler(name: str, space, seed: int = 0, **options):
    """A proxy filter gets `proxy_score` as its proxy (a supernet run attaches a real one)."""
    sampler = SAMPLERS[name](space, seed=seed, **{**SMALL_OPTIONS.get(name, {}), **options})
    if hasattr(sampler, "attach_scorer"):
        sampler.attach_scorer(proxy_score)
    return sampler


def proxy_score(arch) -> float:
    """Synthetic zero-cost proxy, unlike the objective: later positions weigh more."""
    return float(sum(position * choice for position, choice in enumerate(arch)))


def ones_score(arch) -> float:
    """Synthetic objective: how many positions take choice 1 (any space has a choice 1 everywhere)."""
    return float(sum(1 for c in arch if c == 1))


def round_trip(state: dict) -> dict:
    """Save with torch.save and load back without unpickling arbitrary objects."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.fixture(params=SPACE_NAMES)
def space(request):
    return build_space(request.param)


def pytest_generate_tests(metafunc):
    if "sampler_name" in metafunc.fixturenames:
        metafunc.parametrize("sampler_name", SAMPLER_NAMES)


@pytest.fixture
def make_sampler():
    return build_sampler


@pytest.fixture
def score():
    return ones_score


@pytest.fixture
def reload():
    return round_trip


def feedback_rounds(sampler, score, rounds: int, per_round: int = 6) -> list:
    """Sample, score with the synthetic objective, feed back; returns every proposal."""
    proposed = []
    for _ in range(rounds):
        archs = sampler.sample(per_round)
        sampler.observe(archs, [score(a) for a in archs])
        proposed.extend(archs)
    return proposed


@pytest.fixture
def run_rounds():
    return feedback_rounds
