"""Offline sampler and search studies on a NAS-Bench-101 table (no training).

Three protocols, each a function of a sampler factory and an oracle (architectures -> accuracy):
- `max_of_k`: the best accuracy among the first K cells a sampler draws (VAENAS Table 4);
- `search_curve`: best accuracy so far versus number of table queries for a strategy that learns
  from its queries (regularised evolution, a learned sampler in the loop; BANANAS-style curves);
- `accuracy_distribution`: accuracies of n drawn cells (VAENAS Fig. 2).
A learned sampler can first be `warm_up`-ed on uniformly drawn cells whose accuracies carry
Gaussian noise (Table 4: 6,000 cells, noise 0 / 0.1 / 0.5 %).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from samplenas.errors import UserError
from samplenas.plotting import pyplot, save_figure
from samplenas.samplers.base import Sampler
from samplenas.spaces.base import Arch

Oracle = Callable[[Sequence[Arch]], np.ndarray]
MAX_STALE_ROUNDS = 50  # a sampler that proposes only known cells this often in a row has collapsed
LEGEND_WIDTH = 60  # characters per legend line: sampler specs with JSON options run long
# one (line style, marker) per curve, so that a curve drawn over an equal one still shows beneath it
STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 3)), "P"))
SamplerFactory = Callable[[int], Sampler]


class TableOracle:
    """Ground truth of a study: one table metric per flat `nb101` architecture.

    The default, repeat 0 of the 108-epoch test accuracy, is what the shared table holds; the
    published protocols average three repeats, which only the official tfrecord provides.
    """

    def __init__(self, bench, metric: str = "test_accuracy", epochs: int = 108, repeat: str | int = 0):
        self.bench = bench
        self.scores = bench.values(metric, None, epochs, repeat=repeat)

    def __call__(self, archs: Sequence[Arch]) -> np.ndarray:
        return self.scores[self.bench.lookup_archs(archs)]


@dataclass
class Summary:
    mean: float
    std: float
    values: list[float]

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        array = np.asarray(values, dtype=np.float64)
        return cls(float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0, array.tolist())


def warm_up(sampler: Sampler, oracle: Oracle, n: int, noise: float, seed: int) -> None:
    """Feed `sampler` n uniformly drawn cells scored by the oracle plus N(0, noise^2) noise."""
    rng = np.random.default_rng([seed, 0x5EED])
    archs = [sampler.space.sample_uniform(rng) for _ in range(n)]
    scores = oracle(archs) + rng.normal(0.0, noise, size=n) if noise > 0 else oracle(archs)
    sampler.observe(archs, scores)


def max_of_k(make: SamplerFactory, oracle: Oracle, ks: Sequence[int], seeds: Sequence[int],
             progress: bool = True) -> dict[int, Summary]:
    """For each seed draw max(ks) cells once; the K-th entry is the best of the first K."""
    best: dict[int, list[float]] = {k: [] for k in ks}
    for seed in tqdm(seeds, desc="max-of-K", disable=not progress):
        accuracies = oracle(make(seed).sample(max(ks)))
        for k in ks:
            best[k].append(float(np.max(accuracies[:k])))
    return {k: Summary.of(v) for k, v in best.items()}


def search_curve(make: SamplerFactory, oracle: Oracle, budget: int, trials: Sequence[int],
                 batch: int = 1, progress: bool = True) -> np.ndarray:
    """Best accuracy after each of `budget` queries, one row per trial.

    A query is one distinct cell (by the space's key): re-proposals are answered from the trial's
    cache at no cost, as any search keeps its results. The sampler observes every answer, so
    evolution and learned samplers improve from their own queries (VAENAS Algorithm 2 with the
    table standing in for the supernet).
    """
    curves = np.empty((len(trials), budget))
    for row, seed in enumerate(tqdm(trials, desc="search", disable=not progress)):
        sampler = make(seed)
        space = sampler.space
        seen: dict[str, float] = {}
        trace: list[float] = []
        stale = 0
        while len(trace) < budget:
            archs = sampler.sample(min(batch, budget - len(trace)))
            fresh = {}
            for arch in archs:
                key = space.key(arch)
                if key not in seen and key not in fresh:
                    fresh[key] = arch
            if fresh:
                scores = oracle(list(fresh.values()))
                for key, score in zip(fresh, scores):
                    seen[key] = float(score)
                    trace.append(float(score))
                stale = 0
            else:
                stale += 1
                if stale >= MAX_STALE_ROUNDS:
                    raise UserError(f"{sampler.name}: {MAX_STALE_ROUNDS} rounds in a row proposed no new cell "
                                    f"(trial {seed}, {len(trace)} queries); the sampler has collapsed")
            sampler.observe(archs, [seen[space.key(a)] for a in archs])
        curves[row] = np.maximum.accumulate(np.array(trace[:budget]))
    return curves


def accuracy_distribution(sampler: Sampler, oracle: Oracle, n: int) -> np.ndarray:
    return oracle(sampler.sample(n))


# --- plots ------------------------------------------------------------------------------------
def plot_curves(curves: dict[str, np.ndarray], path, title: str) -> None:
    """Mean best-so-far accuracy with a +-1 standard-error band, one line per strategy."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    same = _same_as({name: rows.mean(axis=0) for name, rows in curves.items()})
    for i, (name, rows) in enumerate(curves.items()):
        queries = np.arange(1, rows.shape[1] + 1)
        mean = 100 * rows.mean(axis=0)
        sem = 100 * rows.std(axis=0) / np.sqrt(rows.shape[0])
        line, marker = STYLES[i % len(STYLES)]
        ax.plot(queries, mean, ls=line, marker=marker, markevery=max(1, len(queries) // 8), markersize=4,
                label=f"{name} ({mean[-1]:.2f} %)" + same.get(name, ""))
        ax.fill_between(queries, mean - sem, mean + sem, alpha=0.25)
    ax.set_xlabel("table queries")
    ax.set_ylabel("best test accuracy so far (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _legend(ax)
    _save(fig, path)


def plot_max_of_k(results: dict[str, dict[int, Summary]], path, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    same = _same_as({name: np.array([(by_k[k].mean, by_k[k].std) for k in sorted(by_k)])
                     for name, by_k in results.items()})
    for i, (name, by_k) in enumerate(results.items()):
        ks = sorted(by_k)
        line, marker = STYLES[i % len(STYLES)]
        ax.errorbar(ks, [100 * by_k[k].mean for k in ks], yerr=[100 * by_k[k].std for k in ks],
                    ls=line, marker=marker, capsize=3, label=name + same.get(name, ""))
    ax.set_xscale("log")
    ax.set_xlabel("K (cells sampled)")
    ax.set_ylabel("max test accuracy among K (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _legend(ax)
    _save(fig, path)


def plot_distributions(samples: dict[str, np.ndarray], path, title: str) -> None:
    """Histograms of drawn cells' accuracies side by side (VAENAS Fig. 2)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(samples), figsize=(5 * len(samples), 3.6), sharey=True, squeeze=False)
    bins = np.linspace(80, 95, 61)
    for ax, (name, accuracies) in zip(axes[0], samples.items()):
        values = 100 * np.asarray(accuracies)
        ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, color="tab:blue", alpha=0.8)
        ax.axvline(np.median(values), color="k", ls="--", lw=1)
        ax.set_title(f"{name}: median {np.median(values):.2f} %, n={values.size}")
        ax.set_xlabel("test accuracy (%), values below 80 in the first bin")
    axes[0][0].set_ylabel("cells")
    fig.suptitle(title)
    _save(fig, path)


def _same_as(values: dict[str, np.ndarray]) -> dict[str, str]:
    """{name: " (= earlier name)"} for each curve equal to one drawn before it: it hides that curve, and
    the legend says so instead of letting a reader look for a line that is not there."""
    notes = {}
    names = list(values)
    for i, name in enumerate(names):
        for earlier in names[:i]:
            if values[name].shape == values[earlier].shape and np.allclose(values[name], values[earlier],
                                                                           rtol=0, atol=1e-12, equal_nan=True):
                notes[name] = f" (= {earlier})"
                break
    return notes


def _legend(ax) -> None:
    """The legend below the axes with long labels wrapped, so that no sampler spec covers the curves."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [textwrap.fill(label, LEGEND_WIDTH) for label in labels], loc="upper center",
              bbox_to_anchor=(0.5, -0.2), fontsize="small")


def _save(fig, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    save_figure(fig, path, dpi=120, bbox_inches="tight")  # "tight" takes in the legend below the axes
