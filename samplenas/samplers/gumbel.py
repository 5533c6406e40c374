"""Samplers with one learnable logit vector per position: multinomial (ProxylessNAS) and Gumbel-softmax (GDAS).

The logits learn two ways:
- gradient-based search: `sample_with_gates()` returns an architecture and one straight-through
  gate per position (value 1 in the forward pass, the gradient of the chosen choice's relaxed
  probability in the backward pass); the supernet multiplies each chosen op by its gate, the
  validation loss is backpropagated and `step()` applies the optimiser;
- score feedback: `observe()` takes one REINFORCE step, advantage = score minus a moving-average
  baseline.
Invalid draws (and, under a budget, draws above it) are redrawn (the softmax conditioned on validity
and budget); after `max_redraws` such draws the space's own decoding rule `space.sample_from_probs`
makes the architecture (a repair), redrawn until the budget admits it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from samplenas.errors import UserError
from samplenas.samplers.base import Sampler
from samplenas.spaces.base import Arch, SearchSpace


def draw_categorical(probs: np.ndarray, rng: np.random.Generator) -> Arch:
    """One choice per row of `probs` [positions, choices] by inverse CDF (one uniform per position)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return tuple(int(c) for c in np.minimum((cdf < u[:, None]).sum(axis=1), probs.shape[1] - 1))


class LogitSampler(Sampler):
    """Shared machinery; subclasses say how the relaxed distribution is formed and how a choice is picked."""

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        lr: float = 0.05,
        baseline_decay: float = 0.9,
        max_redraws: int = 100,
    ):
        super().__init__(space, seed)
        if not 0.0 <= baseline_decay < 1.0:
            raise UserError(f"{self.name}: baseline_decay must be in [0, 1), got {baseline_decay}")
        self.torch_rng = torch.Generator().manual_seed(self.seed)
        width = max(space.dims)
        self.mask = torch.tensor([[c < d for c in range(width)] for d in space.dims])
        self.logits = nn.Parameter(torch.zeros(len(space.dims), width))
        self.optimizer = torch.optim.Adam([self.logits], lr=lr)
        self.baseline_decay = float(baseline_decay)
        self.baseline: float | None = None
        self.max_redraws = int(max_redraws)
        self.steps = 0

    # --- distribution --------------------------------------------------------------------------
    def masked_logits(self) -> torch.Tensor:
        return self.logits.masked_fill(~self.mask, float("-inf"))

    def probs(self) -> np.ndarray:
        """Softmax probabilities [positions, max choices]; zero beyond a position's choices."""
        with torch.no_grad():
            return torch.softmax(self.masked_logits(), dim=1).double().numpy()

    def entropy(self) -> float:
        """Sum over positions of the softmax entropy (nats), for logging convergence."""
        with torch.no_grad():
            logp = torch.log_softmax(self.masked_logits(), dim=1).masked_fill(~self.mask, 0.0)
            return float(-(logp.exp() * logp).sum())

    def parameters(self) -> list[nn.Parameter]:
        return [self.logits]

    def derived(self) -> Arch:
        """The architecture gradient-based NAS reports (DARTS, GDAS): the most probable choice per position;
        if that is invalid, the space's decoding of the probabilities with a fixed seed (the sampler's own
        random stream is not touched)."""
        probs = self.probs()
        arch = tuple(int(np.argmax(p[:d])) for p, d in zip(probs, self.space.dims))
        if self.space.is_valid(arch):
            return arch
        return self.space.sample_from_probs([p[:d] for p, d in zip(probs, self.space.dims)],
                                            np.random.default_rng(0))

    # --- drawing -------------------------------------------------------------------------------
    def sample(self, n: int) -> list[Arch]:
        """Draws from the softmax (for Gumbel-softmax too: argmax of Gumbel-perturbed logits is the same law)."""
        probs = self.probs()
        return [self._valid_draw(lambda: probs, draw_categorical) for _ in range(self.check_count(n))]

    def _valid_draw(self, relaxed, pick) -> Arch:
        for _ in range(self.max_redraws):
            arch = pick(relaxed(), self.rng)
            if self.admissible(arch):
                return arch
        probs = [p[:d] for p, d in zip(relaxed(), self.space.dims)]
        return self.draw_admitted(lambda: self.space.sample_from_probs(probs, self.rng), "repaired draws")

    def relaxed(self) -> torch.Tensor:
        """The differentiable [positions, choices] distribution the gates are taken from."""
        raise NotImplementedError

    def pick(self, relaxed: np.ndarray, rng: np.random.Generator) -> Arch:
        raise NotImplementedError

    def sample_with_gates(self) -> tuple[Arch, torch.Tensor]:
        """(architecture, straight-through gates [positions]) for `supernet.forward(x, arch, gates)`."""
        last: list[torch.Tensor] = []

        def relaxed_np() -> np.ndarray:
            last[:] = [self.relaxed()]
            return last[0].detach().double().numpy()

        arch = self._valid_draw(relaxed_np, self.pick)
        chosen = last[0][torch.arange(len(arch)), torch.tensor(arch)]
        return arch, chosen - chosen.detach() + 1.0

    # --- learning ------------------------------------------------------------------------------
    def step(self) -> None:
        """Apply the accumulated gradients of the logits (e.g. from a validation loss) and clear them."""
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1

    def observe(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        """One REINFORCE step: raise the log-probability of archs scoring above the moving baseline."""
        archs, scores = self.check_feedback(archs, scores)
        if not archs:
            return
        mean = float(np.mean(scores))
        baseline = mean if self.baseline is None else self.baseline
        advantages = torch.tensor(scores, dtype=torch.float32) - baseline
        logp = torch.log_softmax(self.masked_logits(), dim=1)
        rows = torch.arange(len(self.space.dims))
        chosen = torch.stack([logp[rows, torch.tensor(a)].sum() for a in archs])
        self.optimizer.zero_grad(set_to_none=True)
        (-(advantages * chosen).mean()).backward()
        self.step()
        self.baseline = self.baseline_decay * baseline + (1.0 - self.baseline_decay) * mean

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "torch_rng": self.torch_rng.get_state(),
            "logits": self.logits.detach().clone(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if tuple(state["logits"].shape) != tuple(self.logits.shape):
            raise UserError(f"{self.name}: state logits {tuple(state['logits'].shape)} do not fit this space")
        self.torch_rng.set_state(state["torch_rng"])
        with torch.no_grad():
            self.logits.copy_(state["logits"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
        self.steps = int(state["steps"])


class MultinomialSampler(LogitSampler):
    """ProxylessNAS: draw each choice from softmax(logits); gates are the drawn choice's probability."""

    name = "multinomial"

    def relaxed(self) -> torch.Tensor:
        return torch.softmax(self.masked_logits(), dim=1)

    def pick(self, relaxed: np.ndarray, rng: np.random.Generator) -> Arch:
        return draw_categorical(relaxed, rng)


class GumbelSampler(LogitSampler):
    """GDAS: hard argmax of softmax((logits + Gumbel noise) / tau), tau annealed linearly from
    `tau_max` to `tau_min` over `tau_steps` optimiser steps (GDAS uses 10 -> 0.1)."""

    name = "gumbel"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        tau_max: float = 10.0,
        tau_min: float = 0.1,
        tau_steps: int = 1000,
        **options,
    ):
        super().__init__(space, seed, **options)
        if not 0 < tau_min <= tau_max or tau_steps < 1:
            raise UserError(
                f"gumbel: need 0 < tau_min <= tau_max and tau_steps >= 1, got {tau_min}, {tau_max}, {tau_steps}"
            )
        self.tau_max, self.tau_min, self.tau_steps = float(tau_max), float(tau_min), int(tau_steps)

    @property
    def tau(self) -> float:
        progress = min(1.0, self.steps / self.tau_steps)
        return self.tau_max - (self.tau_max - self.tau_min) * progress

    def relaxed(self) -> torch.Tensor:
        uniform = torch.rand(self.logits.shape, generator=self.torch_rng).clamp_(1e-10, 1.0 - 1e-10)
        gumbel = -torch.log(-torch.log(uniform))
        return torch.softmax((self.masked_logits() + gumbel) / self.tau, dim=1)

    def pick(self, relaxed: np.ndarray, rng: np.random.Generator) -> Arch:
        return tuple(int(c) for c in relaxed.argmax(axis=1))
