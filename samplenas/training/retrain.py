"""`retrain(job)`: one retrain end to end, as `samplenas retrain` runs it: the world set up, the output
folder checked before anything is written, the `Trainer` run, the test, and `result.json` written once,
at the very end of a successful run (with an ensemble's comparison with one monolithic model).
"""

from __future__ import annotations

from pathlib import Path

from samplenas.training import typed_config
from samplenas.training.checkpoint import CHECKPOINT, save_json
from samplenas.training.distributed import World, close_world, init_world
from samplenas.training.ensemble import MONOLITH_DIR
from samplenas.training.monolith import compare_with_monolith
from samplenas.training.retrainer import RetrainJob, Trainer
from samplenas.training.rundir import RunDir, check_run_dir, remove_run

RESULT = "result.json"


def retrain(job: RetrainJob) -> dict | None:
    """Run `job`; returns the result (also in `out/result.json`), or None when stopped early by
    `stop_after` (continue with `resume=True`)."""
    world = init_world(job.device)
    try:
        return _retrain(job, world)
    finally:
        close_world(world)


def _retrain(job: RetrainJob, world: World) -> dict | None:
    typed_config.check_fields(job, flags=True)
    out = Path(job.out)
    check_run_dir(out, (RESULT, CHECKPOINT), resume=job.resume, overwrite=job.overwrite)
    trainer = Trainer(job, world)  # builds everything: every input is checked before OUT is touched
    with RunDir(out, keep=(CHECKPOINT,), writer=world.is_main):
        if job.overwrite and world.is_main:
            remove_run(out, (RESULT, CHECKPOINT), ("tensorboard", MONOLITH_DIR))
        return _train_and_test(job, world, trainer)


def _train_and_test(job: RetrainJob, world: World, trainer: Trainer) -> dict | None:
    out = Path(job.out)
    if not trainer.train():
        return None
    test = trainer.test()
    result = {
        "space": job.space, "arch": trainer.space.to_str(trainer.arch), "arch_ints": list(trainer.arch),
        "data": job.data, "task": job.recipe.task,
        "test": test["combined" if job.ensemble > 1 else "member0"],
        "params": trainer.cost["params"], "macs": trainer.cost["macs"],
        "wall_time_s": round(trainer.train_seconds, 3), "steps": trainer.step, "epochs": trainer.epochs,
        "world_size": world.size, "device": str(world.device), "seed": job.seed, "settings": trainer.settings,
        "recipe": job.recipe.to_dict(), "command": job.command,
        "bn_recalibration_batches": trainer.bn_recalibrated,
    }
    if job.ensemble > 1:
        result["ensemble"] = compare_with_monolith(job, trainer, test, world)
        if result["ensemble"] is None:
            return None
    if world.is_main:
        save_json(out / RESULT, result)
    return result
