"""After a resume, TensorBoard curves continue once from the checkpoint: points the interrupted run
logged past it are purged (supernet training and retraining share `open_writer`)."""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from samplenas.training.recipes import resolve_recipe
from samplenas.training.retrain import retrain
from samplenas.training.retrainer import RetrainJob
from samplenas.training.tensorboard import open_writer

ORPHAN = 1e6  # a value no real loss takes here


def scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(folder))  # purges orphaned points the way TensorBoard's UI does
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def write(folder: Path, steps, value: float, resume_step: int | None = None, tag: str = "loss") -> None:
    writer = open_writer(folder, resume_step)
    for step in steps:
        writer.add_scalar(tag, value, step)
    writer.close()


def test_a_resumed_writer_drops_the_points_past_the_resume_step(tmp_path, next_second):
    write(tmp_path, range(10), ORPHAN)
    next_second()
    write(tmp_path, range(5, 8), 1.0, resume_step=5)
    assert scalars(tmp_path, "loss") == [(s, ORPHAN) for s in range(5)] + [(s, 1.0) for s in range(5, 8)]


def test_without_a_resume_step_other_tags_keep_their_orphans(tmp_path, next_second):
    """The control: TensorBoard's reader alone purges only the tags the new run logs first."""
    write(tmp_path, range(10), ORPHAN, tag="val")
    next_second()
    write(tmp_path, [9], ORPHAN)
    next_second()
    write(tmp_path, range(5, 8), 1.0)
    assert (9, ORPHAN) in scalars(tmp_path, "val")


def test_retrain_resume_purges_what_the_interrupted_run_logged_past_its_checkpoint(tmp_path, next_second):
    recipe = resolve_recipe("autoencoder", {"epochs": 2, "batch_size": 8, "task": "denoising"})

    def job(**extra) -> RetrainJob:
        return RetrainJob(space="autoencoder", arch="3x3conv2d:8,dropout2d", data="digits", out=tmp_path,
                          recipe=recipe, limit=48, progress=False, **extra)

    assert retrain(job(stop_after=3)) is None  # checkpoint at step 3, mid epoch 1 (6 steps per epoch)
    # what a run that died after the checkpoint had logged: training points and the epoch-1 validation
    next_second()
    write(tmp_path / "tensorboard", range(4, 13), ORPHAN, tag="train/loss")
    next_second()
    write(tmp_path / "tensorboard", [6], ORPHAN, tag="val/loss/0")
    next_second()
    retrain(job(resume=True))
    for tag in ("train/loss", "val/loss/0"):
        points = scalars(tmp_path / "tensorboard", tag)
        steps = [step for step, _ in points]
        assert steps == sorted(set(steps)) and steps[-1] == 12, tag  # one curve, to the end
        assert all(value != ORPHAN for _, value in points), tag
