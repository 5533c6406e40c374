"""The sandwich rule and in-place distillation (Yu & Huang, "Universally Slimmable Networks", ICCV 2019;
Yu et al., "BigNAS", ECCV 2020, section 3.1).

Sandwich rule: every step trains, besides the sampler's paths, the space's largest and smallest
architecture on the same batch, and one update follows the gradients of them all; the bounds of the
space are trained every step, so the paths between them share weights that serve both.
In-place distillation: the largest path learns from the labels; the smallest and the sampled paths
learn from the largest's predictions on the same batch (detached), not from the labels.

In a space of nested widths the largest child contains every other; an NB101 cell does not (its
topology varies), so "largest" and "smallest" here are the cells of most and fewest parameters (of
their standalone networks, `supernet.cost`) among `EXTREME_DRAWS` uniform draws of a private stream,
inside the run's budget when it has one: the same cells on every run of the same seed and settings,
and the training's own random streams untouched.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from samplenas.errors import UserError
from samplenas.spaces.base import Arch

EXTREME_DRAWS = 512
_STREAM = 0x5A4D  # keeps the extremes' draws apart from every other stream seeded by the run's seed


def extreme_archs(supernet, seed: int, budget=None, draws: int = EXTREME_DRAWS) -> tuple[Arch, Arch]:
    """(largest, smallest) by parameter count among `draws` uniform draws (of those the budget admits)."""
    rng = np.random.default_rng([seed, _STREAM])
    space = supernet.space
    archs = [space.sample_uniform(rng) for _ in range(draws)]
    if budget is not None:
        archs = [arch for arch in archs if budget.admits(arch)]
        if not archs:
            raise UserError(f"the sandwich rule found no architecture within {budget.describe()} among "
                            f"{draws} uniform draws")
    params = [supernet.param_count(arch) for arch in archs]
    return archs[int(np.argmax(params))], archs[int(np.argmin(params))]


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the student's logits against the teacher's softmax (its KL divergence to the
    teacher up to a constant), averaged over the batch; the teacher is not trained by it."""
    soft = F.softmax(teacher.detach().float(), dim=1)
    return -(soft * F.log_softmax(student.float(), dim=1)).sum(dim=1).mean()

