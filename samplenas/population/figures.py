"""PNGs a person looks at: fitness per generation (the paper's Fig. 5), clean / noisy / denoised test
images of the best autoencoder (Fig. 6), evaluations per minute against workers (Fig. 7's shape), and
a PBT run's lineage.
Each is written to a temporary file and renamed, so a killed run never leaves half a PNG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from samplenas.plotting import pyplot, save_figure


def plot_fitness(history: Sequence[dict], path: Path, title: str = "") -> Path:
    """Mean and best fitness of the selected population per generation."""
    plt = pyplot()
    gens = [h["generation"] + 1 for h in history]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(gens, [h["mean"] for h in history], "o-", label="mean fitness")
    ax.plot(gens, [h["best"] for h in history], "s--", label="best fitness")
    ax.set_xlabel("generation")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("fitness")
    ax.set_title(title or "fitness per generation")
    ax.legend()
    ax.grid(alpha=0.3)
    out = save_figure(fig, path, dpi=110, bbox_inches="tight")
    return out


def plot_images(images: np.ndarray, path: Path, labels: Sequence[str] = ("clean", "input", "output")) -> Path:
    """`images`: (rows, N, C, H, W) in [0, 1]; one row per version of the same N test images."""
    plt = pyplot()
    rows, count = images.shape[:2]
    fig, axes = plt.subplots(rows, count, figsize=(1.3 * count, 1.4 * rows), squeeze=False)
    for r in range(rows):
        for c in range(count):
            image = np.transpose(images[r, c], (1, 2, 0))
            ax = axes[r][c]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None,
                      vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(labels[r] if r < len(labels) else "")
    out = save_figure(fig, path, dpi=110, bbox_inches="tight")
    return out


def plot_scaling(workers: Sequence[int], per_minute: Sequence[float], path: Path, title: str = "") -> Path:
    """Evaluations per minute against workers, beside ideal linear scaling from one worker."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(workers, per_minute, "o-", label="measured")
    ax.plot(workers, [per_minute[0] * w / workers[0] for w in workers], "k:", label="ideal (linear)")
    ax.set_xlabel("workers")
    ax.set_ylabel("evaluations per minute")
    ax.set_xticks(list(workers))
    ax.set_title(title or "engine throughput")
    ax.legend()
    ax.grid(alpha=0.3)
    out = save_figure(fig, path, dpi=110, bbox_inches="tight")
    return out


def slot_colours(population: int) -> list:
    """One colour per PBT slot, distinct up to 20 slots (tab10 repeats after 10; grey is one of them)."""
    plt = pyplot()
    if population <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(population)]
    if population <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(population)]
    return [plt.get_cmap("viridis")(i / (population - 1)) for i in range(population)]


def lineage_figure(history: Sequence[dict], population: int, ylabel: str, title: str):
    """Every slot's fitness over the rounds; a red cross where a member was replaced, and arrows from
    its parents to the child's fitness one round later, in the child's slot colour (the arrow ends on
    that slot's line; its tail sits on the parent's point). Returns the figure."""
    import matplotlib.ticker

    plt = pyplot()

    def value(k: int, slot: int) -> float:
        v = history[k]["fitness"][slot]
        return v if v is not None and math.isfinite(v) else np.nan

    colours = slot_colours(population)
    rounds = [h["round"] + 1 for h in history]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for slot in range(population):
        ax.plot(rounds, [value(k, slot) for k in range(len(history))], marker=".", lw=1, color=colours[slot],
                label=f"slot {slot}")
    for k, h in enumerate(history[:-1]):
        for entry in h["replaced"]:
            child = entry["slot"]
            ax.scatter([k + 1], [value(k, child)], marker="x", s=60, color="red", zorder=3)
            for parent in entry["parents"]:
                ax.annotate("", xy=(k + 2, value(k + 1, child)), xytext=(k + 1, value(k, parent)),
                            arrowprops={"arrowstyle": "->", "color": colours[child], "alpha": 0.8, "lw": 1.2})
    ax.scatter([], [], marker="x", color="red", label="replaced (arrows: parents -> child, child's colour)")
    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2, loc="best")
    fig.tight_layout()
    return fig


def plot_lineage(history: Sequence[dict], population: int, path: Path, ylabel: str, title: str) -> Path:
    """`lineage_figure` written to `path` (PBT's lineage.png)."""
    return save_figure(lineage_figure(history, population, ylabel, title), path, dpi=110)
