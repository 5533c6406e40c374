"""Settings of one supernet training run, with defaults sized for a CPU quick start.

A run is described by one flat JSON object (saved as RUN/config.json and inside every checkpoint),
so `search`, `rank` and `--resume` rebuild exactly the same supernet, data split and sampler.
The optimisation fields (lr, schedule, label smoothing, task, ...) are those of `recipes.Recipe`,
so supernet training and retraining share one optimiser, schedule and task implementation.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from samplenas.errors import UserError
from samplenas.training import typed_config
from samplenas.training.recipes import Recipe
from samplenas.training.typed_config import bounded

MODES = ("one-shot", "gradient")
# With torchrun: every process trains the step's path on its shard, or each process its own path.
RANK_ARCHS = ("same", "different")

# Small supernets: the quick start trains one on 8x8 digits in about a minute on 2 CPU cores.
# Pass `network` settings (or --network-json) for paper-sized ones.
SMALL_NETWORKS = {
    "nb101": {"stem_channels": 16, "num_stacks": 3, "cells_per_stack": 1},
    "nasnet": {"C": 8, "layers": 5},
    "shufflenet": {"stage_channels": [24, 48, 96, 192], "stem_channels": 16, "last_channels": 256},
    "autoencoder": {},
}
# The supernet's learning rate where a space has measured better than the global default: NB101 supernets
# trained at 0.025 rank cells better than at 0.1 and their searches pick better cells (fair sampling, three
# seeds: docs/results/nb101-remedies.md).
DEFAULT_LR = 0.1
SPACE_LR = {"nb101": 0.025}
# Supernet settings `samplenas train` gives a new run unless its network names them, written into the run's
# config.json: NB101 supernets trained with the input->output edge in every cell rank cells better and their
# searches pick better cells (docs/results/nb101-remedies.md). They are not TrainConfig's defaults, because
# a config saved before they were holds only the user's settings and must reopen as the supernet it trained.
NEW_RUN_NETWORK = {"nb101": {"input_output_edge": "always"}}
# An ensemble run's members train with seeds 10 * seed + i, so ensembles of different seeds never share a member
# (and the ten-member cap keeps it so); sixteen NB101 members ranked no better than eight
# (docs/results/nb101-scorers.md, "An ensemble at the cost of one supernet").
MAX_MEMBERS = 10


def with_new_run_network(values: dict) -> dict:
    """A new run's settings with NEW_RUN_NETWORK under the network settings the user gave."""
    space, network = values.get("space"), values.get("network", {})
    defaults = NEW_RUN_NETWORK.get(space, {}) if isinstance(space, str) else {}
    if not defaults or not isinstance(network, dict):  # a space or network of the wrong type: the checks say so
        return values
    return {**values, "network": {**defaults, **network}}


@dataclass
class TrainConfig:
    """One supernet training run. Steps count optimiser updates of the shared weights."""

    space: str
    sampler: str
    data: str = "digits"
    data_dir: str | None = None
    download: bool = False
    mode: str = "one-shot"
    rank_archs: str = "same"  # torchrun: one path on every process per step, or a different one each
    seed: int = bounded(0, ge=0, le=typed_config.MAX_SEED)
    steps: int = bounded(400, ge=1)
    # an ensemble run: this many supernets alike but for their seed share the steps (`member`)
    members: int = bounded(1, ge=1, le=MAX_MEMBERS)
    batch_size: int = bounded(64, ge=1)
    # optimisation (SPOS: SGD with momentum, linear decay, label smoothing 0.1)
    lr: float | None = bounded(None, gt=0, le=typed_config.MAX_LR)  # None: SPACE_LR or DEFAULT_LR
    momentum: float = bounded(0.9, ge=0)
    weight_decay: float = bounded(4e-5, ge=0)
    schedule: str = "cosine"
    label_smoothing: float = bounded(0.1, ge=0, lt=1)
    grad_clip: float = bounded(5.0, ge=0)
    task: str | None = None  # classification; reconstruction (default) or denoising for autoencoder
    noise_std: float = bounded(math.sqrt(1.0 / 3.0), ge=0)
    network: dict = field(default_factory=dict)  # supernet settings on top of SMALL_NETWORKS[space]
    # sampler and its feedback (VAENAS Algorithm 2)
    sampler_options: dict = field(default_factory=dict)
    epsilon_inc: float | None = bounded(None, ge=0, le=1)  # wrap a learned sampler in the (1-eps)U + eps p mixture
    epsilon_ramp: float | None = bounded(None, gt=0, le=1)  # the same, eps at its max after this share of steps
    # BigNAS: each step also trains the largest and smallest paths (sandwich rule); the others then learn from the
    # largest's predictions (in-place distillation). training/sandwich.py
    sandwich: bool = False
    inplace_distill: bool = False
    eval_every: int = bounded(50, ge=0)  # n_vae: steps between evaluation rounds (0 = never)
    eval_archs: int = bounded(16, ge=1)  # N_s: architectures evaluated per round
    eval_examples: int = bounded(256, ge=1)  # validation examples per architecture
    eval_batch_size: int = bounded(256, ge=1)
    bn_batches: int = bounded(2, ge=0)  # training batches for BN recalibration before each evaluation (0 = off)
    # budget: the sampler proposes only architectures within it, so only those paths are trained
    max_params: int | None = bounded(None, ge=1)
    max_macs: int | None = bounded(None, ge=1)
    max_latency_ms: float | None = bounded(None, gt=0)
    latency_table: str | None = None  # the latency lookup table (`samplenas latency`) predicting latency_ms
    # gradient mode (Algorithm 3)
    arch_lr: float = bounded(3e-3, gt=0, le=typed_config.MAX_LR)
    # data and bookkeeping
    image_size: int | None = bounded(None, ge=1)
    val_fraction: float = bounded(0.1, gt=0, lt=1)
    limit: int | None = bounded(None, ge=1)
    augment: bool = False
    loader_workers: int = bounded(0, ge=0)  # data loader processes (user Datasets; built-in sets are in memory)
    checkpoint_every: int = bounded(100, ge=1)
    keep_checkpoints: bool = False  # also keep each checkpoint under checkpoints/ (ranking over training)
    log_every: int = bounded(10, ge=1)
    device: str | None = None
    amp: bool = True
    channels_last: bool = True  # NHWC activations: faster convolutions on this CPU and on GPUs (tools/bench_proxy.py)

    def __post_init__(self):
        if self.lr is None:  # a saved config always holds the number it trained with
            self.lr = SPACE_LR.get(self.space, DEFAULT_LR)

    def member(self, index: int) -> TrainConfig:
        """Member `index` of an ensemble run: one supernet of seed 10 * seed + index, trained for its share of the
        steps (rounded up), every other setting the run's."""
        if not 0 <= index < self.members:
            raise ValueError(f"member {index} of a run of {self.members}")
        if self.members == 1:
            return self
        seed = MAX_MEMBERS * self.seed + index
        if seed > typed_config.MAX_SEED:
            raise UserError(f"seed {self.seed} is too large for an ensemble run (its members train with seeds "
                            f"{MAX_MEMBERS} * seed + i, at most {typed_config.MAX_SEED})")
        return dataclasses.replace(self, members=1, seed=seed, steps=math.ceil(self.steps / self.members))

    def recipe(self) -> Recipe:
        """The optimisation settings as a retraining `Recipe` (one epoch unit; steps drive the schedule)."""
        return Recipe(
            epochs=1, batch_size=self.batch_size, optimizer="sgd", lr=self.lr, momentum=self.momentum,
            weight_decay=self.weight_decay, schedule=self.schedule, label_smoothing=self.label_smoothing,
            grad_clip=self.grad_clip, task=self.resolved_task(), noise_std=self.noise_std, augment=self.augment,
            network=self.network_settings(),
        ).check()

    def resolved_task(self) -> str:
        if self.task is not None:
            return self.task
        return "reconstruction" if self.space == "autoencoder" else "classification"

    def network_settings(self) -> dict:
        settings = {**SMALL_NETWORKS.get(self.space, {}), **self.network}
        if self.image_size is not None:
            settings["image_size"] = self.image_size
        return settings

    def check(self) -> TrainConfig:
        from samplenas.samplers import SAMPLERS
        from samplenas.spaces import SPACES

        for registry, name in ((SPACES, self.space), (SAMPLERS, self.sampler)):
            if name not in registry:
                raise UserError(f"unknown {registry.kind} {name!r}; valid: {', '.join(registry.names())}")
        self.sampler_options = typed_config.check_options(SAMPLERS[self.sampler], self.sampler_options,
                                                          f"sampler {self.sampler!r} options")
        typed_config.check_fields(self)
        if self.device is not None and not typed_config.DEVICE.fullmatch(self.device):
            raise UserError(f"device must be cpu, cuda or cuda:N, got {self.device!r}")
        if self.mode not in MODES:
            raise UserError(f"unknown mode {self.mode!r}; valid: {', '.join(MODES)}")
        if self.rank_archs not in RANK_ARCHS:
            raise UserError(f"unknown rank_archs {self.rank_archs!r}; valid: {', '.join(RANK_ARCHS)}")
        if self.epsilon_inc is not None and self.epsilon_ramp is not None:
            raise UserError("epsilon_inc and epsilon_ramp both set the mixture's schedule; give one of them")
        if self.sampler == "mixture" and (self.epsilon_inc, self.epsilon_ramp) != (None, None):
            if "epsilon_inc" in self.sampler_options:
                raise UserError("the mixture's epsilon_inc option and epsilon_inc/epsilon_ramp both set its schedule; "
                                "give one of them")
            if self.epsilon_ramp is not None and self.sampler_options.get("auto_step"):
                raise UserError("epsilon_ramp counts training steps: leave the mixture's auto_step option off")
        if (self.max_latency_ms is None) != (self.latency_table is None):
            raise UserError("max_latency_ms and latency_table go together (the table predicts the latency)")
        self.member(self.members - 1)  # the members' seeds fit
        task = self.resolved_task()
        self._check_sandwich(task)
        if (task == "classification") == (self.space == "autoencoder"):
            raise UserError(f"task {task!r} does not fit space {self.space!r} "
                            "(autoencoder: reconstruction or denoising; others: classification)")
        self.recipe()
        return self

    def _check_sandwich(self, task: str) -> None:
        """Settings the sandwich rule (training/sandwich.py) cannot honour."""
        if self.inplace_distill and not self.sandwich:
            raise UserError("inplace_distill distils the largest path of the sandwich rule: give sandwich too")
        if self.inplace_distill and task != "classification":
            raise UserError(f"inplace_distill needs class predictions to learn from; task {task!r} has none")
        if self.sandwich and self.rank_archs == "different":
            raise UserError("the sandwich rule trains the same largest and smallest paths on every process: "
                            "use rank_archs 'same'")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        if "workers" in values and "loader_workers" not in values:  # the name in runs saved before the rename
            values = {("loader_workers" if name == "workers" else name): value for name, value in values.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"unknown training setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        missing = [name for name in ("space", "sampler") if name not in values]
        if missing:
            flag = "--" + missing[0].replace("_", "-")
            raise UserError(f"{flag} is required (or {missing[0]!r} in the --config file)")
        return cls(**typed_config.build(cls, values, "training settings"))


def read_json_object(path: str | Path, what: str = "config") -> dict:
    """A JSON object from `path` (strict: UTF-8, no NaN, bounded nesting); UserError naming the file."""
    return typed_config.read_object(path, what)
