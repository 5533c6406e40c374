"""Train one candidate fully with the retrainer's code and score it on the validation split.

This is the task function population searches hand to the engine: a picklable payload in, a JSON-able
dict with "fitness" out. It reuses `training.retrainer.Trainer` (one network definition: the space's
`build(arch)`, one training loop, one recipe), in a throw-away folder, so a candidate trains exactly
as `samplenas retrain` would train it. Every candidate of a search uses the run's seed, so an
evaluation is a deterministic function of (architecture, settings): a resumed search reaches the
same fitnesses, and the cache may answer for a genotype seen before.

Fitness: 1 / validation MSE for reconstruction and denoising (the evolving-autoencoders paper),
validation accuracy for classification.
"""

from __future__ import annotations

import base64
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DIVERGED = 0.0  # fitness of a candidate whose training loss became non-finite (the worst there is)
NETWORK_INT_MAX = 1_000_000  # no supernet setting (channels, layers, cells) is sensible beyond this
NETWORK_LEAST = {"max_layers": 1, "num_reductions": 0}


def check_network(space: str, network: dict, what: str = "--network") -> dict:
    """A population command's supernet settings, through the strict typed reader: names and types
    against the space's supernet (`typed_config.check_options`: no null, bool or float where an integer
    belongs), every number finite, integers in 0..NETWORK_INT_MAX (at least 1 for max_layers; at most
    `typed_config.MAXIMUM` where it names the setting). Raises UserError (one line)."""
    from samplenas.errors import UserError
    from samplenas.supernet import SUPERNETS
    from samplenas.training import typed_config

    checked = typed_config.check_options(SUPERNETS[space], typed_config.expect_object(network, what), what)
    stack = [(f"{what}: {name}", name, value) for name, value in checked.items()]
    while stack:
        where, name, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}", k, v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", name, v) for i, v in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{where} must be a finite number, got {value}")
        elif isinstance(value, int) and not isinstance(value, bool):
            least = NETWORK_LEAST.get(name, 0)
            most = typed_config.MAXIMUM.get("reductions" if name == "num_reductions" else name, NETWORK_INT_MAX)
            if not least <= value <= most:
                raise UserError(f"{where} must be in {least}..{most}, got {value}")
    return checked


@dataclass(frozen=True)
class CandidateSettings:
    """Everything about training a candidate except its architecture (the same for a whole search)."""

    space: str
    data: str
    recipe: dict  # Recipe.to_dict(); recipe["network"] holds the supernet settings
    data_dir: str | None = None
    seed: int = 0
    limit: int | None = None
    val_fraction: float = 0.1
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)


def payload(settings: CandidateSettings, arch_text: str, *, epochs: int | None = None, test: bool = False,
            images: int = 0) -> dict:
    """A job for `evaluate_candidate`: train `arch_text` (for `epochs`, default the recipe's)."""
    recipe = dict(settings.recipe)
    if epochs is not None:
        recipe["epochs"] = int(epochs)
    return {"settings": {**settings.to_dict(), "recipe": recipe}, "arch": arch_text, "test": test,
            "images": int(images)}


def fitness_from(task: str, metrics: dict) -> float:
    if task == "classification":
        return float(metrics["accuracy"])
    loss = float(metrics["loss"])
    return 1.0 / loss if loss > 0 and math.isfinite(loss) else DIVERGED


def evaluate_candidate(job: dict, data) -> dict:
    """Train one architecture on `data` (the search's loaded splits, `LoadedData`, handed over by the
    engine from the object store) and return {"fitness", "val", "params", "macs", "train_s", ...}."""
    from samplenas.training.distributed import init_world
    from samplenas.training.fit import Diverged, evaluate_members
    from samplenas.training.recipes import Recipe
    from samplenas.training.retrainer import RetrainJob, Trainer

    s = job["settings"]
    recipe = Recipe(**s["recipe"])
    world = init_world(s["device"])
    with tempfile.TemporaryDirectory(prefix="sncand") as folder:
        retrain_job = RetrainJob(space=s["space"], arch=job["arch"], data=s["data"], out=Path(folder), recipe=recipe,
                                 data_dir=s["data_dir"], seed=s["seed"], device=s["device"], amp=False,
                                 channels_last=False, limit=s["limit"], val_fraction=s["val_fraction"],
                                 progress=False, command=[])
        trainer = Trainer(retrain_job, world, data=data)
        out = {"params": int(trainer.cost["params"]), "macs": int(trainer.cost["macs"]), "epochs": recipe.epochs}
        try:
            trainer.train()
        except Diverged as err:  # the training went non-finite: the worst fitness, not a failed search
            return {**out, "fitness": DIVERGED, "diverged": str(err)}
        batch = min(recipe.batch_size, 256)
        val = evaluate_members(trainer.nets, data.val, trainer.task, world, s["seed"], batch,
                               amp=False, channels_last=False)["member0"]
        out.update(fitness=fitness_from(recipe.task, val), val=val, train_s=round(trainer.train_seconds, 3),
                   steps=trainer.step)
        if job.get("test"):
            test = trainer.test()["member0"]
            out["test"] = {**test, "fitness": fitness_from(recipe.task, test)}
        if job.get("images") and recipe.task != "classification":
            out["images"] = example_images(trainer, data.test, int(job["images"]), s["seed"])
    return out


def example_images(trainer, dataset, count: int, seed: int) -> dict:
    """Clean, network-input (noisy when denoising) and output versions of the first `count` test images,
    as the evaluation sees them (same noise), packed as uint8 for a JSON record."""
    import torch

    from samplenas.training.batches import eval_batches
    from samplenas.training.fit import EVAL_KEY
    from samplenas.training.tasks import step_generator

    x, y = next(eval_batches(dataset, count))
    net = trainer.nets[0].eval()
    with torch.no_grad():
        inputs, target = trainer.task.prepare(x, y, step_generator(x.device, seed, EVAL_KEY, 0, 0), False)
        output = net(inputs)
    stack = torch.stack([target, inputs.clamp(-1, 1), output.clamp(-1, 1)])  # [-1, 1]
    pixels = ((stack + 1.0) * 127.5).round().to(torch.uint8).numpy()
    return {"shape": list(pixels.shape), "uint8_b64": base64.b64encode(pixels.tobytes()).decode("ascii")}


def decode_images(packed: dict) -> np.ndarray:
    """(3, N, C, H, W) floats in [0, 1]: clean, input, output."""
    raw = np.frombuffer(base64.b64decode(packed["uint8_b64"]), dtype=np.uint8)
    return raw.reshape(packed["shape"]).astype(np.float32) / 255.0
