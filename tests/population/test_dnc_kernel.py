"""Deep-n-Cheap's kernel and BO stages on cheap stand-in objectives (no training, no Ray)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import norm

from samplenas.population import dnc_space as ds
from samplenas.population.dnc import arch_kernel, grids, hyper_kernel, stage1, stage2, stage3
from samplenas.population.dnc_kernel import (
    DncKernel,
    ExpectedImprovementXi,
    LayersTerm,
    channel_powers,
    make_gp,
    propose,
)
from samplenas.population.dnc_settings import DncSettings


def test_paper_figure_2_similarity():
    # x_i = [50, 80], x_j = [36, 61, 107]: sigma_1 = 0.682, sigma_2 = 0.466, sigma_3 = 0.01 -> 0.386
    spec = replace(ds.default_spec("cnn"), layers=(1, 16))
    kernel = DncKernel([LayersTerm(0, 1, 1, 16, channel_powers(16))])
    a = ds.arch_features(spec, ds.stage1_net(spec, [50, 80]))
    b = ds.arch_features(spec, ds.stage1_net(spec, [36, 61, 107]))
    value = kernel(torch.tensor(a[None]), torch.tensor(b[None])).to_dense().item()
    assert value == pytest.approx((0.682 + 0.466 + math.exp(-4.5)) / 3, abs=1e-3)
    assert value == pytest.approx(0.386, abs=1e-3)


def _random_features(kind: str, n: int, rng) -> np.ndarray:
    spec = ds.default_spec(kind)
    return np.stack([ds.arch_features(spec, ds.net_from_unit(spec, rng.random(ds.arch_dims(spec)))) for _ in range(n)])


@pytest.mark.parametrize("kind", ["cnn", "mlp", "hyper"])
def test_kernel_is_positive_semidefinite_with_unit_diagonal(kind, rng):
    if kind == "hyper":
        spec = ds.default_spec("mlp")
        x = np.stack([ds.hyper_features(spec, ds.hyper_from_unit(spec, rng.random(3))) for _ in range(200)])
        kernel = hyper_kernel(3.0)
    else:
        x = _random_features(kind, 200, rng)
        kernel = arch_kernel(ds.default_spec(kind), 3.0)
    k = kernel(torch.tensor(x), torch.tensor(x)).to_dense()
    assert torch.allclose(k, k.T)
    assert torch.allclose(torch.diagonal(k), torch.ones(len(x), dtype=k.dtype))
    assert torch.linalg.eigvalsh(k).min() > -1e-9
    assert k.min() >= 0 and k.max() <= 1 + 1e-12
    assert torch.allclose(kernel(torch.tensor(x), torch.tensor(x), diag=True), torch.diagonal(k))


def test_ei_has_the_paper_xi_and_the_gp_the_noise_term():
    x = np.array([[0.1, 0.2, 0.3], [0.8, 0.5, 0.1], [0.4, 0.9, 0.7]])
    y = np.array([0.3, 0.1, 0.5])
    model = make_gp(x, y, hyper_kernel(3.0), noise=1e-4)
    assert torch.allclose(model.likelihood.noise, torch.full((3,), 1e-4, dtype=torch.float64))
    assert model.mean_module.constant.item() == pytest.approx(y.mean())
    query = torch.tensor([[0.5, 0.5, 0.5]], dtype=torch.float64)
    post = model.posterior(query)
    mu, sigma = post.mean.item(), post.variance.sqrt().item()
    for xi in (0.0, 1e-4, 0.05):
        z = (0.1 - mu - xi) / sigma
        expected = (0.1 - mu - xi) * norm.cdf(z) + sigma * norm.pdf(z)
        got = ExpectedImprovementXi(model, 0.1, xi)(query[None]).item()
        assert got == pytest.approx(expected, rel=1e-6)


def test_batched_proposals_are_distinct():
    rng = np.random.default_rng(1)
    x, pool = rng.random((5, 3)), rng.random((50, 3))
    picks = propose(x, rng.random(5), pool, hyper_kernel(3.0), 4)
    assert len(set(picks)) == 4


# --- stand-in objectives with known optima ---------------------------------------------------------
def _hyper_loss(h: ds.Hyper) -> float:
    """Minimum 0 at lr 1e-3, batch 100, weight decay 1e-4."""
    wd = -6.0 if h.weight_decay == 0 else math.log10(h.weight_decay)
    return (math.log10(h.lr) + 3) ** 2 / 4 + ((h.batch_size - 100) / 480) ** 2 + (wd + 4) ** 2 / 9


def _mlp_loss(net: ds.DncNet) -> float:
    """Minimum at two hidden layers totalling 500 nodes."""
    return abs(sum(net.widths) - 500) / 800 + 0.2 * abs(net.layers - 2)


def _mean_best(run, strategy: str, seeds: range) -> float:
    return float(np.mean([min(f for _, f in run(strategy, seed)) for seed in seeds]))


def test_bo_beats_random_search_on_average_over_seeds():
    def run3(strategy, seed):
        s = DncSettings(evaluations=14, initial=5, pool=300, strategy=strategy, seed=seed)
        return stage3(ds.default_spec("mlp"), s, lambda hs: [_hyper_loss(h) for h in hs])

    def run1(strategy, seed):
        s = DncSettings(evaluations=12, initial=4, pool=300, strategy=strategy, seed=seed)
        return stage1(ds.default_spec("mlp"), s, lambda nets: [_mlp_loss(n) for n in nets])

    seeds = range(6)
    for run in (run3, run1):
        assert _mean_best(run, "bo", seeds) < _mean_best(run, "random", seeds)


def test_bo_budget_and_batches():
    calls = []

    def evaluate(hs):
        calls.append(len(hs))
        return [_hyper_loss(h) for h in hs]

    s = DncSettings(evaluations=9, initial=3, pool=50, parallel=2, seed=3)
    history = stage3(ds.default_spec("mlp"), s, evaluate)
    assert len(history) == 9 and calls == [3, 2, 2, 2]
    assert len({c.key for c, _ in history}) == 9
    again = stage3(ds.default_spec("mlp"), s, lambda hs: [_hyper_loss(h) for h in hs])
    assert [c.key for c, _ in again] == [c.key for c, _ in history]  # deterministic given seed and results


def test_grid_stages_run_in_order_and_freeze_the_best():
    spec = ds.default_spec("cnn")
    start = ds.stage1_net(spec, [40, 70, 90, 140, 200, 300, 300, 300, 300, 300])  # shortcuts every 4th
    s = DncSettings(model="cnn", bn_fractions=[0, 0.5], dropout_fractions=[0, 0.5], input_drop_probs=[0.1],
                    drop_probs=[0.3], shortcut_every=[0, 2])
    seen = []

    def evaluate(nets):
        seen.append(nets)
        # prefers stride everywhere, BN on half of the layers, no dropout, shortcuts every other layer
        return [sum(d == ds.DOWN_POOL for d in n.down) + abs(sum(n.bn) - 5) + sum(p > 0 for p in n.dropout)
                + (0 if n.shortcut == ds.shortcuts(10, 2) else 1) for n in nets]

    best, best_f, log = stage2(start, evaluate([start])[0], grids(s, start), evaluate)
    assert [name for name, *_ in log] == ["down", "bn", "dropout", "shortcut"]
    seen = seen[1:]
    # each grid is built around the best of the previous one
    assert all(set(n.down) == {0, ds.DOWN_STRIDE} for n in seen[1])  # down frozen at strides before BN
    assert all(sum(n.bn) == 5 for n in seen[2])  # BN frozen before dropout
    assert all(sum(p > 0 for p in n.dropout) == 0 for n in seen[3])  # dropout frozen before shortcuts
    assert best_f == 0 and best.shortcut == ds.shortcuts(10, 2)


def test_mlp_stage2_is_one_dropout_grid_and_none_without_hidden_layers():
    s = DncSettings()
    net = ds.stage1_net(ds.default_spec("mlp"), [100, 50])
    (name, make), = grids(s, net)
    assert name == "dropout" and [n.dropout for n in make(net)] == [(p, p) for p in s.mlp_drop_probs]
    assert grids(s, ds.stage1_net(ds.default_spec("mlp"), [])) == []


def test_stage3_keeps_the_stage2_incumbent_as_a_known_point():
    spec = ds.default_spec("mlp")
    s = DncSettings(evaluations=4, initial=2, pool=50)
    preset = ds.Hyper(1e-3, 0.0, 100)
    calls = []

    def evaluate(hs):
        calls.append(hs)
        return [_hyper_loss(h) + 1.0 for h in hs]  # nothing new beats the incumbent

    history = stage3(spec, s, evaluate, incumbent=(preset, _hyper_loss(preset)))
    assert history[0][0].value == preset and sum(len(c) for c in calls) == 4  # not part of the budget
    assert preset not in [h for c in calls for h in c]  # never trained again
    assert min(history, key=lambda cf: cf[1])[0].value == preset


def test_a_space_smaller_than_the_pool_ends_stage1_instead_of_hanging():
    """Issue 25: `dnc --layers 0 0` (an MLP without hidden layers: one architecture) hung after one
    evaluation while the pool draws doubled without end; it ends with the one configuration."""
    import time

    s = DncSettings(model="mlp", layers=[0, 0], evaluations=6, pool=1000, seed=0)
    started = time.perf_counter()
    history = stage1(s.space(), s, lambda nets: [float(n.layers) for n in nets])
    assert len(history) == 1 and time.perf_counter() - started < 30
