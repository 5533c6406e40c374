"""A trainer stopped as if interrupted right after the checkpoint of a given step (resume tests)."""

import pytest


def train_until_stopped(trainer, out, step: int) -> None:
    """Train `trainer` into `out`, interrupted (KeyboardInterrupt) once its checkpoint of `step` is written."""
    save = trainer.save

    def save_then_stop(folder):
        save(folder)
        if trainer.step == step:
            raise KeyboardInterrupt

    trainer.save = save_then_stop
    with pytest.raises(KeyboardInterrupt):
        trainer.train(out)
