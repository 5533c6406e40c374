"""One way to open a run's TensorBoard writer, for supernet training and retraining alike.

After a resume at step S the interrupted run may have logged points past its last checkpoint
(S): they describe weights that were thrown away. `purge_step=S` makes TensorBoard drop every
point at step >= S written before, so each curve continues once from the checkpoint instead of
doubling back.
"""

from __future__ import annotations

from pathlib import Path


def open_writer(folder: str | Path, resume_step: int | None = None):
    """A `SummaryWriter` on `folder`; `resume_step`: the step a resumed run continues from (None: a new run)."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(folder), purge_step=resume_step)
