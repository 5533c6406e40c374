"""What a retrained network is trained for: its inputs, loss and test metrics.

Metrics are kept as sums and counts (`metric_sums`) so that processes can all-reduce them and get
exactly the metric of the whole test set; `summarize` turns the sums into numbers.
Classification: cross-entropy (label smoothing, auxiliary head) and accuracy. Reconstruction and
denoising: the autoencoder sees the image scaled to [-1, 1] (the range of its tanh output), clean
or with Gaussian noise, and is scored by the mean squared error against the clean image, its
inverse (the search score) and the PSNR for a peak-to-peak range of 2.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from samplenas.training.recipes import Recipe

SIGNAL_RANGE = 2.0  # [-1, 1]


def step_generator(device: torch.device, *keys: int) -> torch.Generator:
    """A generator seeded by (seed, step, rank, ...): per-step randomness (cutout, noise) that a
    resumed run reproduces without saving any state."""
    seed = int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.Generator(device=device).manual_seed(seed)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one `size` x `size` square per image, centred uniformly at random and clipped at the
    border (DeVries & Taylor 2017, as DARTS applies it after normalisation)."""
    b, _, h, w = x.shape
    cy = torch.randint(h, (b, 1, 1), generator=generator, device=x.device)
    cx = torch.randint(w, (b, 1, 1), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= cy - size // 2) & (rows < cy + size // 2) & (cols >= cx - size // 2) & (cols < cx + size // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


class Classification:
    name = "classification"

    def __init__(self, recipe: Recipe):
        self.recipe = recipe

    def prepare(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, train: bool):
        """(network input, target); cutout only in training."""
        if train and self.recipe.cutout > 0:
            x = cutout(x, self.recipe.cutout, generator)
        return x, y

    def loss(self, output, target: torch.Tensor) -> torch.Tensor:
        smoothing = self.recipe.label_smoothing
        if isinstance(output, tuple):  # (logits, auxiliary logits) in training mode
            logits, aux = output
            main = F.cross_entropy(logits, target, label_smoothing=smoothing)
            return main + self.recipe.auxiliary_weight * F.cross_entropy(aux, target, label_smoothing=smoothing)
        return F.cross_entropy(output, target, label_smoothing=smoothing)

    @staticmethod
    def scores(output: torch.Tensor) -> torch.Tensor:
        """What an ensemble averages: class probabilities."""
        return output.float().softmax(dim=1)

    @staticmethod
    def metric_sums(scores: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        nll = F.nll_loss(scores.clamp_min(1e-12).log(), target, reduction="sum")
        correct = (scores.argmax(dim=1) == target).sum()
        return {"loss_sum": float(nll), "correct": float(correct), "count": float(len(target))}

    @staticmethod
    def summarize(sums: dict[str, float]) -> dict[str, float]:
        return {"accuracy": sums["correct"] / sums["count"], "loss": sums["loss_sum"] / sums["count"],
                "examples": int(sums["count"])}


class Reconstruction:
    name = "reconstruction"

    def __init__(self, recipe: Recipe, mean, std):
        self.recipe = recipe
        self.denoising = recipe.task == "denoising"
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the data set's normalisation and map [0, 1] pixels to [-1, 1]."""
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        return ((x * std + mean) * 2.0 - 1.0).clamp(-1.0, 1.0)

    def prepare(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, train: bool):
        """(noisy or clean input, clean target); evaluation noise comes from a fixed generator too,
        so every model of a comparison sees the same noisy test images."""
        target = self.clean(x)
        if not self.denoising:
            return target, target
        noise = torch.randn(target.shape, generator=generator, device=x.device) * self.recipe.noise_std
        return target + noise, target

    @staticmethod
    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output.float(), target)

    @staticmethod
    def scores(output: torch.Tensor) -> torch.Tensor:
        return output.float()

    @staticmethod
    def metric_sums(scores: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        squared = (scores - target).square().sum()
        return {"squared_error": float(squared), "elements": float(target.numel()), "count": float(len(target))}

    @staticmethod
    def summarize(sums: dict[str, float]) -> dict[str, float]:
        mse = sums["squared_error"] / sums["elements"]
        return {"loss": mse, "inverse_loss": 1.0 / mse if mse > 0 else math.inf,
                "psnr": 10.0 * math.log10(SIGNAL_RANGE**2 / mse) if mse > 0 else math.inf,
                "examples": int(sums["count"])}


def make_task(recipe: Recipe, info):
    if recipe.task == "classification":
        return Classification(recipe)
    return Reconstruction(recipe, info.mean, info.std)
