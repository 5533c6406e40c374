"""VAENAS (the "sampling matters" paper): an LSTM VAE over architecture token sequences that
learns the distribution of good architectures.

Each architecture is a sequence of one token per position (an embedding per (position, choice)
pair). An LSTM encoder maps it to N(mu, sigma); an LSTM decoder reads z (with a position
embedding) at every step and emits per-position choice logits. Training maximises the ELBO
(reconstruction cross-entropy + KL to N(0, I)) on the top `top_percent` % of every (arch, score)
pair observed so far, for `iters` minibatch steps (Algorithm 1); `observe()` runs that round
unless `fit_on_observe=False`, in which case call `fit()` yourself. Sampling draws z ~ N(0, I),
decodes per-position probabilities in one batch and turns each into a valid architecture with
`space.sample_from_probs` (NB101: the A.5 rule, top 9 decoded edges, redrawn until connected).
Before any training `sample()` is uniform. Under a budget, a decoded architecture above it is
replaced by decodings of fresh latents until one is admitted (the decoder's law conditioned on the
budget).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from samplenas.errors import UserError
from samplenas.samplers.base import Sampler
from samplenas.spaces.base import Arch, SearchSpace


class SequenceVAE(nn.Module):
    """LSTM encoder/decoder over the flat encoding; decoder outputs are masked per position."""

    def __init__(self, dims: Sequence[int], embed_dim: int, hidden_dim: int, latent_dim: int):
        super().__init__()
        width = max(dims)
        self.register_buffer("offsets", torch.tensor(np.concatenate([[0], np.cumsum(dims)[:-1]]), dtype=torch.long))
        self.register_buffer("invalid", torch.tensor([[c >= d for c in range(width)] for d in dims]))
        self.token = nn.Embedding(int(sum(dims)), embed_dim)
        self.position = nn.Embedding(len(dims), embed_dim)
        self.encoder = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.to_mu = nn.Linear(hidden_dim, latent_dim)
        self.to_logvar = nn.Linear(hidden_dim, latent_dim)
        self.decoder = nn.LSTM(embed_dim + latent_dim, hidden_dim, batch_first=True)
        self.to_logits = nn.Linear(hidden_dim, width)

    def encode(self, archs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, (h, _) = self.encoder(self.token(archs + self.offsets))
        return self.to_mu(h[-1]), self.to_logvar(h[-1])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Masked logits [batch, positions, max choices]."""
        positions = self.position.weight.unsqueeze(0).expand(len(z), -1, -1)
        steps = torch.cat([positions, z.unsqueeze(1).expand(-1, positions.shape[1], -1)], dim=2)
        out, _ = self.decoder(steps)
        return self.to_logits(out).masked_fill(self.invalid, float("-inf"))

    def elbo_terms(self, archs: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction cross-entropy, KL), both summed over positions/latents and averaged over the batch."""
        mu, logvar = self.encode(archs)
        noise = torch.randn(mu.shape, generator=generator)
        logits = self.decode(mu + noise * torch.exp(0.5 * logvar))
        recon = nn.functional.cross_entropy(logits.flatten(0, 1), archs.flatten(), reduction="sum") / len(archs)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(archs)
        return recon, kl


class VAESampler(Sampler):
    """Options: top_percent (K), iters (minibatch steps per round), batch_size, lr, embed_dim,
    hidden_dim, latent_dim, kl_weight, fit_on_observe."""

    name = "vae"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        top_percent: float = 50.0,
        iters: int = 300,
        batch_size: int = 128,
        lr: float = 3e-3,
        embed_dim: int = 16,
        hidden_dim: int = 64,
        latent_dim: int = 16,
        kl_weight: float = 1.0,
        fit_on_observe: bool = True,
    ):
        super().__init__(space, seed)
        if not 0.0 < top_percent <= 100.0:
            raise UserError(f"vae: top_percent must be in (0, 100], got {top_percent}")
        if iters < 1 or batch_size < 1:
            raise UserError("vae: iters and batch_size must be >= 1")
        self.top_percent, self.iters, self.batch_size = float(top_percent), int(iters), int(batch_size)
        self.kl_weight, self.fit_on_observe = float(kl_weight), bool(fit_on_observe)
        self.latent_dim = int(latent_dim)
        with torch.random.fork_rng(devices=[]):  # weights depend on the seed only, not on global torch state
            torch.manual_seed(self.seed)
            self.model = SequenceVAE(space.dims, int(embed_dim), int(hidden_dim), self.latent_dim)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.torch_rng = torch.Generator().manual_seed(self.seed)
        self.observations: list[tuple[Arch, float]] = []
        self.rounds = 0
        self.last_loss: dict[str, float] | None = None  # {"loss", "recon", "kl"} of the last minibatch

    # --- drawing -------------------------------------------------------------------------------
    def decode_probs(self, n: int) -> np.ndarray:
        """Per-position choice probabilities [n, positions, max choices] for n draws of z ~ N(0, I)."""
        z = torch.randn(n, self.latent_dim, generator=self.torch_rng)
        self.model.eval()
        with torch.no_grad():
            return torch.softmax(self.model.decode(z), dim=2).double().numpy()

    def sample(self, n: int) -> list[Arch]:
        n = self.check_count(n)
        if self.rounds == 0:
            return self.draw_uniform(n)
        out = []
        for probs in self.decode_probs(n):
            arch = self._from_probs(probs)
            if not self.admissible(arch):  # over budget: decode fresh latents until one is admitted
                arch = self.draw_admitted(lambda: self._from_probs(self.decode_probs(1)[0]), "decoder draws")
            out.append(arch)
        return out

    def _from_probs(self, probs: np.ndarray) -> Arch:
        return self.space.sample_from_probs([p[:d] for p, d in zip(probs, self.space.dims)], self.rng)

    # --- learning ------------------------------------------------------------------------------
    def observe(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        archs, scores = self.check_feedback(archs, scores)
        self.observations.extend(zip(archs, scores))
        if self.fit_on_observe and archs:
            self.fit()

    def training_set(self) -> list[Arch]:
        """Algorithm 1, lines 1-2: the top K % of the observations by score (ties keep arrival order)."""
        ranked = sorted(self.observations, key=lambda item: -item[1])
        keep = max(1, math.ceil(len(ranked) * self.top_percent / 100.0))
        return [arch for arch, _ in ranked[:keep]]

    def fit(self, iters: int | None = None) -> dict[str, float]:
        """One training round (Algorithm 1) on the current observations; returns the last losses."""
        if not self.observations:
            raise UserError("vae: nothing observed yet; call observe(archs, scores) first")
        data = torch.tensor(self.training_set(), dtype=torch.long)
        self.model.train()
        for _ in range(self.iters if iters is None else int(iters)):
            batch = data[torch.randint(len(data), (min(self.batch_size, len(data)),), generator=self.torch_rng)]
            recon, kl = self.model.elbo_terms(batch, self.torch_rng)
            loss = recon + self.kl_weight * kl
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        self.rounds += 1
        self.last_loss = {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}
        return self.last_loss

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "torch_rng": self.torch_rng.get_state(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "observations": [[list(a), s] for a, s in self.observations],
            "rounds": self.rounds,
            "last_loss": self.last_loss,
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise UserError(f"vae: saved model does not match these settings ({str(err).splitlines()[0]})") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.torch_rng.set_state(state["torch_rng"])
        self.observations = [(tuple(a), float(s)) for a, s in state["observations"]]
        self.rounds = int(state["rounds"])
        self.last_loss = state["last_loss"]
