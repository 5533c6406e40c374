"""Zero-cost proxies: score an architecture from its freshly initialised network on one minibatch.

Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), and Mellor et al., "Neural
Architecture Search without Training" (ICML 2021). Every proxy here is higher-is-better, computed on
the network `supernet.deployed_network(arch)` initialised from a fixed seed (the same seed for every
architecture) and on one fixed minibatch of the training split:

  params     trainable parameters
  flops      multiply-adds of one forward pass (the supernet's cost counter)
  grad_norm  sum over conv/linear layers of the L2 norm of the loss gradient of their weights
  snip       sum of |w * dL/dw| over conv/linear weights (connection sensitivity)
  synflow    sum of |w * dR/dw| with every weight made positive, R the sum of the output for an all-ones
             input, batch norm acting as identity (running statistics 0/1, eval mode), in float64
  jacob_cov  -sum(log(v + k) + 1 / (v + k)), v the eigenvalues of the correlation of the per-example
             input Jacobians, k = 1e-5 (Mellor et al., first version)
  naswot     log |K|, K_ij = units on which examples i and j share the on/off pattern of the ReLUs'
             inputs (Mellor et al., final version)

`combined_ranks` averages the ranks of several scorers' scores (the hybrid of supernet and proxies).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats
from torch import nn

from samplenas.errors import UserError
from samplenas.spaces.base import Arch
from samplenas.training.choices import ZERO_COST_PROXIES as PROXIES

WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
JACOB_K = 1e-5


class ZeroCostScorer:
    """`score(arch)` -> {"score": the proxy's value, "<proxy>": the same}, for one trained run's space,
    network size and data (the run's weights are not used: a proxy needs no training)."""

    def __init__(self, proxy: str, supernet, task, batch: tuple[torch.Tensor, torch.Tensor], seed: int = 0):
        if proxy not in PROXIES:
            raise UserError(f"unknown zero-cost proxy {proxy!r}; valid: {', '.join(PROXIES)}")
        self.proxy, self.supernet, self.task, self.seed = proxy, supernet, task, int(seed)
        self.device = next(supernet.parameters()).device
        x, y = (t.to(self.device) for t in batch)
        self.inputs, self.target = task.prepare(x, y, torch.Generator(self.device).manual_seed(self.seed), False)

    def network(self, arch: Arch) -> nn.Module:
        """The architecture's network, initialised the same way for every architecture."""
        torch.manual_seed(self.seed)
        return self.supernet.deployed_network(arch).to(self.device)

    def score(self, arch: Arch) -> dict:
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):  # caller's RNG kept
            if self.proxy == "params":
                value = float(self.supernet.param_count(arch))
            elif self.proxy == "flops":
                value = float(self.supernet.cost(arch)["macs"])
            else:
                value = float(MEASURES[self.proxy](self, self.network(arch)))
        if not np.isfinite(value):  # e.g. a singular NASWOT kernel: last in any ranking, never a crash
            value = float("-inf")
        return {"score": value, self.proxy: value}

    # --- the measures -------------------------------------------------------------------------
    def _loss_gradients(self, net: nn.Module) -> list[nn.Module]:
        net.train()
        net.zero_grad(set_to_none=True)
        output = net(self.inputs)
        self.task.loss(output[0] if isinstance(output, tuple) else output, self.target).backward()
        return [m for m in net.modules() if isinstance(m, WEIGHTED) and m.weight.grad is not None]

    def grad_norm(self, net: nn.Module) -> float:
        return sum(float(m.weight.grad.detach().norm()) for m in self._loss_gradients(net))

    def snip(self, net: nn.Module) -> float:
        return sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in self._loss_gradients(net))

    def synflow(self, net: nn.Module) -> float:
        net = net.double()
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.abs_()
        net.eval()  # fresh running statistics: batch norm is (nearly) the identity, as SynFlow wants it
        net.zero_grad(set_to_none=True)
        ones = torch.ones((1, *self.inputs.shape[1:]), dtype=torch.float64, device=self.device)
        output = net(ones)
        torch.sum(output[0] if isinstance(output, tuple) else output).backward()
        return sum(float((m.weight.detach() * m.weight.grad).abs().sum())
                   for m in net.modules() if isinstance(m, WEIGHTED) and m.weight.grad is not None)

    def jacob_cov(self, net: nn.Module) -> float:
        net.train()
        inputs = self.inputs.detach().clone().requires_grad_(True)
        output = net(inputs)
        output = output[0] if isinstance(output, tuple) else output
        output.backward(torch.ones_like(output))
        jacobian = inputs.grad.reshape(len(inputs), -1).double().cpu().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = np.nan_to_num(np.corrcoef(jacobian), nan=0.0)
        eigenvalues = np.linalg.eigvalsh(correlation)
        return float(-np.sum(np.log(eigenvalues + JACOB_K) + 1.0 / (eigenvalues + JACOB_K)))

    @torch.no_grad()
    def naswot(self, net: nn.Module) -> float:
        net.train()
        n = len(self.inputs)
        kernel = torch.zeros(n, n, dtype=torch.float64, device=self.device)

        def add_codes(values: torch.Tensor) -> None:
            codes = (values.reshape(n, -1) > 0).double()
            kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

        activations = [m for m in net.modules() if isinstance(m, (nn.ReLU, nn.SiLU))]
        if activations:  # the on/off pattern of each ReLU is the sign of its input
            hooks = [m.register_forward_hook(lambda m, inp, out: add_codes(inp[0])) for m in activations]
        else:  # functional ReLUs (the autoencoder): the signs of the convolutions' outputs
            hooks = [m.register_forward_hook(lambda m, inp, out: add_codes(out))
                     for m in net.modules() if isinstance(m, WEIGHTED[:2])]
        try:
            net(self.inputs)
        finally:
            for hook in hooks:
                hook.remove()
        sign, logdet = torch.linalg.slogdet(kernel)
        return float(logdet) if float(sign) > 0 else float("-inf")


MEASURES = {name: getattr(ZeroCostScorer, name) for name in PROXIES if name not in ("params", "flops")}


def proxy_batch(dataset, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed minibatch proxies are computed on: a seeded draw of `batch_size` training examples."""
    from samplenas.training.batches import iterate_batches

    indices = np.random.default_rng([seed, 43]).permutation(len(dataset))[:batch_size]
    return next(iter(iterate_batches(dataset, np.sort(indices), batch_size)))


def combined_ranks(columns: Sequence[Sequence[float]], weights: Sequence[float] | None = None) -> list[float]:
    """The mean over columns of each row's rank (average ranks for ties; higher score, higher rank),
    normalised to [0, 1]: the rank-average hybrid of several scorers over the same architectures;
    `weights` (summing to one) make it the weighted mean, a learned combination."""
    columns = [np.asarray(c, dtype=np.float64) for c in columns]
    if not columns or len({len(c) for c in columns}) != 1:
        raise ValueError("combined_ranks needs columns of one length")
    n = len(columns[0])
    ranks = [(stats.rankdata(np.nan_to_num(c, nan=-np.inf)) - 1) / max(n - 1, 1) for c in columns]
    return np.average(ranks, axis=0, weights=weights).tolist()


def within(values: Sequence[float], reference: Sequence[float]) -> list[float]:
    """Each value's position in `reference`'s empirical distribution (share of reference values below it,
    ties counted half): a rank that does not depend on which other architectures are scored."""
    reference = np.sort(np.asarray(reference, dtype=np.float64))
    values = np.asarray(values, dtype=np.float64)
    below = np.searchsorted(reference, values, side="left")
    not_above = np.searchsorted(reference, values, side="right")
    return ((below + not_above) / (2.0 * len(reference))).tolist()
