"""Every Deep-n-Cheap setting in one typed, validated place (flags and `--config` both land here).

Defaults are the paper's (sections 2-3, Table 2-3 runs): n_1 = n_2 = 15 (`evaluations` 30, half Sobol), a
pool of n_3 = 1000 sampled configurations per BO step, omega = 3, xi = 1e-4, sigma_n^2 = 1e-4, Adam 1e-3
with x0.2 decay at 1/2 and 3/4, batch 256, the N_p weight-decay rule, the stage-2 grids and the stage-3
ranges (lr 1e-5..1e-1, weight decay 1e-6..1e-3 with the lowest decade as 0, batch 32..512).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

from samplenas.errors import UserError
from samplenas.training import typed_config
from samplenas.training.typed_config import bounded

MODELS = ("mlp", "cnn")
PENALTIES = ("time", "params")
STRATEGIES = ("bo", "random", "sobol")
GRIDS = ("down", "bn", "dropout", "shortcut")
SPACE_FIELDS = ("layers", "widths", "max_channels", "down_at", "stage1_dropout", "shortcuts_above", "lr_log10",
                "wd_log10", "batch")


@dataclass(frozen=True)
class DncSettings:
    model: str = "mlp"
    data: str = "digits"
    data_dir: str | None = None
    limit: int | None = bounded(None, ge=1)  # examples per split (quick runs)
    val_fraction: float = bounded(0.2, gt=0, lt=1)  # validation share of the training set (the authors' default split)
    penalty: str = "time"  # "time": t_tr per epoch; "params": N_p
    cost_weight: float = bounded(0.0, ge=0)  # w_c
    epochs: int | None = bounded(None, ge=1)  # per candidate; None = the paper's 100 (CNN) / 60 (MLP)
    evaluations: int = bounded(30, ge=1)  # per BO stage: initial Sobol points + EI steps
    initial: int | None = bounded(None, ge=1)  # Sobol points; None = half of `evaluations` rounded up
    pool: int = bounded(1000, ge=1)  # n_3: sampled configurations scored by EI per step
    strategy: str = "bo"  # stages 1 and 3: "bo", "random" or "sobol" (the paper's section 4.3 baselines)
    parallel: int = bounded(1, ge=1)  # candidates proposed per BO round and evaluated together
    seed: int = bounded(0, ge=0, le=typed_config.MAX_SEED)
    omega: float = bounded(3.0, gt=0)
    xi: float = bounded(1e-4, ge=0)
    noise: float = bounded(1e-4, gt=0)
    layers: list[int] | None = None  # None: CNN [4, 16] conv layers, MLP [0, 2] hidden layers
    widths: list[int] | None = None  # None: CNN first-layer channels [16, 64], MLP nodes [20, 400]
    max_channels: int = bounded(512, ge=1)
    down_at: list[int] = field(default_factory=lambda: [64, 128, 256])
    stage1_dropout: float | None = None  # None: 0.3 CNN / 0.2 MLP
    shortcuts_above: int = 8
    lr_log10: list[float] = field(default_factory=lambda: [-5.0, -1.0])
    wd_log10: list[float] = field(default_factory=lambda: [-6.0, -3.0])
    batch: list[int] = field(default_factory=lambda: [32, 512])
    preset_lr: float = bounded(1e-3, gt=0)
    preset_batch: int = bounded(256, ge=1)
    wd_rule: list[float] | None = None  # [threshold, scale]; None: CNN [1e6, 1e-11], MLP [1e4, 1e-9]
    stage3_incumbent: bool = True  # stage 3 starts from stage 2's best (presets) as a known point; False: paper
    reference_batches: int = bounded(20, ge=1)  # batches timed on the largest configuration for c_0 (time penalty)
    grid_order: list[str] = field(default_factory=lambda: list(GRIDS))
    bn_fractions: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75])
    dropout_fractions: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    input_drop_probs: list[float] = field(default_factory=lambda: [0.1, 0.2])
    drop_probs: list[float] = field(default_factory=lambda: [0.15, 0.3, 0.45])
    shortcut_every: list[int] = field(default_factory=lambda: [0, 4, 2])  # 0 = no shortcuts
    mlp_drop_probs: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])

    # -- derived
    @property
    def epochs_per_candidate(self) -> int:
        return self.epochs if self.epochs is not None else (100 if self.model == "cnn" else 60)

    @property
    def initial_points(self) -> int:
        return self.initial if self.initial is not None else (self.evaluations + 1) // 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self) -> DncSettings:
        """Raise UserError (one line) naming the first setting that cannot work; called before any work."""
        from samplenas.training.data import DATASETS, NEEDS_DATA_DIR

        _choice("model", self.model, MODELS)
        for name, value in self.to_dict().items():
            typed_config.check_bounds(name, value, name)  # upper bounds shared with the flags
        _choice("penalty", self.penalty, PENALTIES)
        _choice("strategy", self.strategy, STRATEGIES)
        if self.data not in DATASETS:
            raise UserError(f"unknown data set {self.data!r}; valid: {', '.join(DATASETS)}")
        if self.data in NEEDS_DATA_DIR and not self.data_dir:
            raise UserError(f"data set {self.data!r} needs --data-dir")
        typed_config.check_fields(self)
        if self.initial is not None and self.initial > self.evaluations:
            raise UserError(f"initial must be in 1..evaluations ({self.evaluations}), got {self.initial}")
        for name in ("layers", "widths", "lr_log10", "wd_log10", "batch", "wd_rule"):
            value = getattr(self, name)
            if value is not None and len(value) != 2:
                raise UserError(f"{name} must be a [low, high] pair, got {value}")
        for name in ("bn_fractions", "dropout_fractions", "input_drop_probs", "drop_probs", "shortcut_every",
                     "mlp_drop_probs", "grid_order"):
            if not getattr(self, name):
                raise UserError(f"{name}: empty grid")
        for name in ("bn_fractions", "dropout_fractions"):
            if any(not 0 <= v <= 1 for v in getattr(self, name)):
                raise UserError(f"{name} must lie in [0, 1]")
        for name in ("input_drop_probs", "drop_probs", "mlp_drop_probs"):
            if any(not 0 <= v < 1 for v in getattr(self, name)):
                raise UserError(f"{name} must lie in [0, 1)")
        if any(v < 0 for v in self.shortcut_every):
            raise UserError("shortcut_every entries must be >= 0 (0 = no shortcuts)")
        bad = [g for g in self.grid_order if g not in GRIDS]
        if bad or len(set(self.grid_order)) != len(self.grid_order):
            raise UserError(f"grid_order must be distinct names from {', '.join(GRIDS)}, got {self.grid_order}")
        self.space()  # the ranges
        return self

    def space(self):
        """The stage-1/3 `SpaceSpec` (raises UserError on an empty range)."""
        from samplenas.population.dnc_space import spec_from_user

        overrides = {"max_channels": self.max_channels, "down_at": tuple(self.down_at),
                     "shortcuts_above": self.shortcuts_above, "lr_log10": tuple(self.lr_log10),
                     "wd_log10": tuple(self.wd_log10), "batch": tuple(self.batch)}
        for name in ("layers", "widths"):
            if getattr(self, name) is not None:
                overrides[name] = tuple(getattr(self, name))
        if self.stage1_dropout is not None:
            overrides["dropout"] = self.stage1_dropout
        return spec_from_user(self.model, overrides)


def _choice(name: str, value, valid) -> None:
    if value not in valid:
        raise UserError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")


def _list_items(name: str, value, annotation, what: str):
    """Element types of list settings (typed_config checks the list itself)."""
    for option in typing.get_args(annotation) or (annotation,):
        if typing.get_origin(option) is list and isinstance(value, list):
            (inner,) = typing.get_args(option)
            return [typed_config.check_value(v, inner, f"{what}: {name}[{i}]") for i, v in enumerate(value)]
    return value


def settings_from(config: dict | None = None, flags: dict | None = None) -> DncSettings:
    """Defaults, then the `--config` object, then flags (None = not given); typed and validated."""
    hints = typing.get_type_hints(DncSettings)
    values: dict = {}
    for what, source, skip_none in (("DnC config", config or {}, False), ("DnC flags", flags or {}, True)):
        for name, value in typed_config.build(DncSettings, source, what, partial=True).items():
            if value is None and skip_none:
                continue
            values[name] = _list_items(name, value, hints[name], what)
    return DncSettings(**values).check()


def read_settings_file(path: str | Path) -> dict:
    return typed_config.read_object(path, "DnC config")
