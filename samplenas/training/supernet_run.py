"""A finished or checkpointed supernet run opened again (`open_run`), for search, rank, export and
`load_model`: its config with the caller's overrides, the trainer rebuilt, its checkpoint loaded."""

from __future__ import annotations

from pathlib import Path

from samplenas.errors import UserError
from samplenas.training.checkpoint import load_checkpoint
from samplenas.training.supernet_members import run_checkpoint
from samplenas.training.supernet_train import CONFIG, SupernetTrainer
from samplenas.training.train_config import TrainConfig, read_json_object

EVALUATION_SETTINGS = ("eval_examples", "bn_batches")  # what search and rank may score with instead


def scoring_settings(trainer: SupernetTrainer) -> dict:
    """How a run's architectures are scored (after open_run's overrides), for the reports."""
    return {name: getattr(trainer.config, name) for name in EVALUATION_SETTINGS}


def run_config(run: str | Path, device: str | None = None, data_dir: str | None = None,
               evaluation: dict | None = None) -> TrainConfig:
    """RUN/config.json with the caller's device, data folder and scoring overrides (see `open_run`)."""
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"run directory {run} does not exist")
    overrides = _evaluation_overrides(evaluation)
    values = {**read_json_object(run / CONFIG, "run config"), **overrides, "device": device}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return TrainConfig.from_dict(values)


def _evaluation_overrides(evaluation: dict | None) -> dict:
    overrides = {name: value for name, value in (evaluation or {}).items() if value is not None}
    unknown = sorted(set(overrides) - set(EVALUATION_SETTINGS))
    if unknown:
        raise UserError(f"cannot override {unknown[0]!r} when scoring a run (only {', '.join(EVALUATION_SETTINGS)})")
    return overrides


def open_run(run: str | Path, device: str | None = None, data_dir: str | None = None,
             checkpoint: str | Path | None = None, evaluation: dict | None = None,
             state: dict | None = None, config: TrainConfig | None = None) -> SupernetTrainer:
    """A finished (or checkpointed) run, rebuilt from RUN/config.json with its checkpoint loaded
    (`checkpoint`: another one of the run's, e.g. RUN/checkpoints/step0000100.pt; `state`: its
    content when the caller has already read it; `config`: `run_config`'s, when the caller has it).
    `evaluation` overrides how architectures are scored (validation images, BN recalibration batches;
    None values keep the run's): scoring more images than training's quick evaluations is a lever on
    how well the supernet ranks, and it does not change the trained weights. An ensemble run opens as its first
    member (`open_runs` opens all of them)."""
    config = config or run_config(run, device, data_dir, evaluation)
    path = Path(checkpoint) if checkpoint is not None else run_checkpoint(run, config)
    trainer = SupernetTrainer(config.member(0), progress=False)
    trainer.load_state_dict(load_checkpoint(path) if state is None else state, str(path),
                            may_differ=_evaluation_overrides(evaluation))
    return trainer
