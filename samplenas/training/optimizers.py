"""Optimisers that torch lacks. Kept apart from `recipes` so that reading a recipe (the CLI does
it to build its parser) never imports torch."""

from __future__ import annotations

from collections.abc import Iterable

import torch


class RMSpropTF(torch.optim.Optimizer):
    """RMSProp as TensorFlow 1 defines it (what NAS-Bench-101 trained with).

    Differs from `torch.optim.RMSprop` in two ways that matter at epsilon = 1.0: the mean square
    starts at 1 (not 0) and epsilon sits inside the square root:
    ms = rho*ms + (1-rho)*g^2;  mom = momentum*mom + lr*g/sqrt(ms + eps);  w -= mom.
    Weight decay is added to the gradient (the L2 loss term of the original).
    """

    def __init__(self, params: Iterable, lr: float, rho: float = 0.9, momentum: float = 0.9, eps: float = 1.0,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["mean_square"] = torch.ones_like(p)
                    state["momentum"] = torch.zeros_like(p)
                mean_square, mom = state["mean_square"], state["momentum"]
                mean_square.mul_(group["rho"]).addcmul_(grad, grad, value=1 - group["rho"])
                mom.mul_(group["momentum"]).addcdiv_(grad, mean_square.add(group["eps"]).sqrt_(), value=group["lr"])
                p.sub_(mom)
        return loss
