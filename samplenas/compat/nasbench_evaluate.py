"""`NASBench.evaluate`: train a NAS-Bench-101 cell from scratch through the retrainer, as the official
`nasbench.lib.evaluate.train_and_evaluate` does with TensorFlow (kept apart so torch loads only here).

The official config keys map onto the `nb101` recipe: `train_epochs`, `batch_size`, `momentum`,
`weight_decay`, the learning rate (times `tpu_num_shards` when `use_tpu`, as the official model
builder does), `stem_filter_size` / `num_stacks` / `num_modules_per_stack`. Only the official
`COSINE_BY_STEP` decay exists here; `train_seconds`, `max_attempts` and the data-file keys have no
counterpart (the data comes from `data`/`data_dir`), and of `intermediate_evaluations` only the
final evaluation is run. The official also evaluates once at step 0; the metadata lists what ran.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from samplenas.benchmarks.nasbench101 import OutOfDomainError
from samplenas.errors import UserError
from samplenas.spaces.nasbench101 import ModelSpec, NASBench101Space, spec_problem
from samplenas.training.checkpoint import save_json
from samplenas.training.distributed import close_world, init_world
from samplenas.training.fit import evaluate_members, load_data
from samplenas.training.recipes import Recipe, resolve_recipe
from samplenas.training.retrainer import RetrainJob, Trainer

VAL_FRACTION = 0.2  # CIFAR-10's 50k training images -> 40k train + 10k validation, as the official split
TRAIN_EVAL_IMAGES = 10_000  # the official train accuracy is measured on 10k fixed training images
METADATA = "metadata.json"


def recipe_from_config(config: dict) -> Recipe:
    """The `nb101` recipe with the official config's values (so edits to `config` take effect)."""
    if config["lr_decay_method"] != "COSINE_BY_STEP":
        raise UserError(f"lr_decay_method {config['lr_decay_method']!r} is not supported; only COSINE_BY_STEP "
                        "(what the NAS-Bench-101 table was trained with)")
    lr = config["learning_rate"] * (config["tpu_num_shards"] if config["use_tpu"] else 1)
    return resolve_recipe("nb101", {
        "epochs": config["train_epochs"], "batch_size": config["batch_size"], "lr": lr,
        "momentum": config["momentum"], "weight_decay": config["weight_decay"],
        "network": {"stem_channels": config["stem_filter_size"], "num_stacks": config["num_stacks"],
                    "cells_per_stack": config["num_modules_per_stack"]},
    })


def train_and_evaluate(spec: ModelSpec, config: dict, model_dir: Path, *, data: str, data_dir: str | None,
                       limit: int | None, device: str | None, seed: int, progress: bool) -> dict:
    """Train, then measure train/validation/test accuracy; writes `model_dir/metadata.json` atomically."""
    problem = spec_problem(spec)
    if problem:
        raise OutOfDomainError(f"spec outside the NAS-Bench-101 space: {problem}")
    space = NASBench101Space()
    recipe = recipe_from_config(config)
    job = RetrainJob(space="nb101", arch=space.to_str(space.encode(spec)), data=data, out=model_dir, recipe=recipe,
                     data_dir=data_dir, seed=seed, device=device, limit=limit, val_fraction=VAL_FRACTION,
                     progress=progress, command=["NASBench.evaluate", str(model_dir)])
    started = time.perf_counter()
    world = init_world(device)
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        trainer = Trainer(job, world)
        trainer.train()
        train_eval = load_data({"data": data, "data_dir": data_dir, "val_fraction": VAL_FRACTION, "seed": seed,
                                "limit": min(limit or TRAIN_EVAL_IMAGES, TRAIN_EVAL_IMAGES),
                                "recipe": replace(recipe, augment=False).to_dict()}, ("train",)).train
        accuracy = {
            name: evaluate_members(trainer.nets, split, trainer.task, world, seed, trainer.per_rank_batch,
                                   job.amp, job.channels_last)["member0"]["accuracy"]
            for name, split in (("train", train_eval), ("validation", trainer.data.val), ("test", trainer.data.test))
        }
    finally:
        close_world(world)
    final = {"epochs": trainer.step / trainer.steps_per_epoch, "training_time": trainer.train_seconds,
             "training_steps": trainer.step, "train_accuracy": accuracy["train"],
             "validation_accuracy": accuracy["validation"], "test_accuracy": accuracy["test"]}
    metadata = {"trainable_params": int(trainer.cost["params"]), "total_time": time.perf_counter() - started,
                "evaluation_results": [final], "config": config, "recipe": recipe.to_dict(),
                "arch": job.arch, "data": data, "device": str(world.device)}
    if world.is_main:
        save_json(model_dir / METADATA, metadata)
    return {
        "module_adjacency": spec.matrix, "module_operations": spec.ops,
        "trainable_parameters": metadata["trainable_params"],
        **{key: final[key] for key in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")},
    }

