"""A picture of a supernet run: validation scores of the sampled architectures over training."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from samplenas.plotting import pyplot, save_figure
from samplenas.training.checkpoint import load_checkpoint


def plot_run(run: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Scores of every evaluation round (dots), their mean and best (lines) and the mixture's ε."""
    plt = pyplot()
    evaluations = load_checkpoint(Path(run) / "checkpoint.pt")["evaluations"]
    steps = np.array([e["step"] for e in evaluations])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for e in evaluations:
        ax.scatter(np.full(len(e["scores"]), e["step"]), e["scores"], s=8, color="tab:blue", alpha=0.35)
    ax.plot(steps, [e["mean"] for e in evaluations], color="tab:blue", label="mean of sampled architectures")
    ax.plot(steps, [e["max"] for e in evaluations], color="tab:green", label="best")
    if all(e.get("epsilon") is not None for e in evaluations):
        ax.plot(steps, [e["epsilon"] for e in evaluations], color="tab:gray", ls="--", label="ε (learned share)")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation score")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
