"""Reading what runs leave on disk, one reader per artifact, so every command sees a file the same way.

- `read_top(path)`: a search's list of architectures, best first, with the data and network settings
  of the run that produced it (`samplenas search`'s RUN/top.json, whose settings are in RUN/config.json;
  evolve's, pbt's and dnc's result.json, which hold them themselves);
- `read_checkpoint(path)`: a checkpoint file (or a folder holding checkpoint.pt) read once, its kind
  told by its format and its layout checked; a supernet checkpoint knows its run folder (the folder
  holding config.json, also for a kept RUN/checkpoints/stepN.pt);
- `retrained_networks(checkpoint)`: the networks of a retrain checkpoint, built from its recorded space,
  settings and architecture with the saved weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from samplenas.errors import UserError
from samplenas.training import typed_config
from samplenas.training.checkpoint import CHECKPOINT, load_checkpoint
from samplenas.training.schema import RETRAIN as RETRAIN_SCHEMA
from samplenas.training.schema import STATE_ERRORS, check_checkpoint
from samplenas.training.supernet_members import member_folder
from samplenas.training.supernet_train import CONFIG as RUN_CONFIG
from samplenas.training.supernet_train import FORMAT as SUPERNET_FORMAT
from samplenas.training.supernet_train import KEPT_CHECKPOINTS

RESULT_KINDS = {"samplenas-evolve-result-1": "evolve", "samplenas-pbt-1": "pbt", "samplenas-dnc-1": "dnc"}


@dataclass(frozen=True)
class TopFile:
    """A parsed list of architectures (best first) and where its run's settings came from.

    `recipe`: recipe fields the run recorded (the supernet run's network and task; an evolve or pbt
    run's recipe; DnC's stage-3 hyper-parameters), which sit under the user's flags. `data`/`data_dir`:
    the run's data set and folder (None when not recorded). `run`: the supernet training run a
    `samplenas search` top.json belongs to (None for the other kinds). `settings_from`: the file the
    data and recipe were read from.
    """

    path: Path
    kind: str  # "search", "evolve", "pbt", "dnc" or "list" (a bare JSON list of architectures)
    space: str | None
    best: str  # the chosen entry's architecture (the best unless a point was asked): readable form or ints
    recipe: dict = field(default_factory=dict)
    data: str | None = None
    data_dir: str | None = None
    run: Path | None = None
    settings_from: Path | None = None

    def for_space(self, space: str | None) -> str:
        """The space to use with `space` given by the user (None: the file's); UserError when they differ."""
        if space and self.space and space != self.space:
            raise UserError(f"{self.path} holds {self.space} architectures, not {space}")
        if not (space or self.space):
            raise UserError(f"{self.path} does not name its space; pass --space")
        return space or self.space


def read_top(path: str | Path, point: int = 0) -> TopFile:
    """The architectures file at `path` (see `TopFile`); one UserError line for anything unreadable.

    Accepts a list of entries, or an object with the list under "top" or "architectures" and optionally
    the run's "space"; an entry is the architecture text, a list of ints, or an object holding either
    under "arch". `best` is entry `point` (0: the first, the best of a top.json; on a pareto.json front,
    the cheapest).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist (expected a search's top.json or an evolve, pbt or dnc result.json)")
    top = typed_config.loads(path.read_bytes(), str(path))
    entries = top.get("top", top.get("architectures")) if isinstance(top, dict) else top
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: no architectures found (expected a list under 'top' or 'architectures')")
    if not 0 <= point < len(entries):
        raise UserError(f"--point {point} is not in {path}: it lists points 0..{len(entries) - 1}")
    best = entries[point].get("arch") if isinstance(entries[point], dict) else entries[point]
    if isinstance(best, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in best):
        best = ",".join(str(v) for v in best)
    if not isinstance(best, str):
        raise UserError(f"{path}: {'the first entry' if point == 0 else f'entry {point}'} holds no architecture")
    if not isinstance(top, dict):
        return TopFile(path, "list", None, best)
    space = _optional(top, "space", str, path)
    if "run" in top:
        return _search_top(path, top, space, best)
    kind = RESULT_KINDS.get(top.get("format"), "list")
    recipe = _optional(top, "recipe", dict, path) or {}
    settings = _optional(top, "settings", dict, path) or {}
    data_dir = top.get("data_dir", settings.get("data_dir"))  # DnC keeps it with its settings
    if data_dir is not None and not isinstance(data_dir, str):
        raise UserError(f"{path}: 'data_dir' must be a string")
    data = _optional(top, "data", str, path)
    return TopFile(path, kind, space, best, dict(recipe), data, data_dir, None, path if data else None)


def _search_top(path: Path, top: dict, space: str | None, best: str) -> TopFile:
    """A `samplenas search` top.json: its run's data and network come from RUN/config.json (the run
    folder named in the file, or the folder holding top.json when the run moved)."""
    from samplenas.supernet import SUPERNETS
    from samplenas.training.train_config import TrainConfig

    run = path.resolve().parent  # search writes RUN/top.json: the folder holding it is its run
    if not (run / RUN_CONFIG).is_file():
        named = _optional(top, "run", str, path)  # a top.json copied out of its run: the run it names
        run = Path(named) if named is not None else run
    if not (run / RUN_CONFIG).is_file():
        return TopFile(path, "search", space, best)
    config = TrainConfig.from_dict(typed_config.read_object(run / RUN_CONFIG, "run config"))
    network = SUPERNETS[config.space].deployed_settings(config.network_settings())  # retrain the searched cell
    recipe = {"network": network, "task": config.resolved_task(), "noise_std": config.noise_std}
    return TopFile(path, "search", space, best, recipe, config.data, config.data_dir, run, run / RUN_CONFIG)


def _optional(top: dict, key: str, kind: type, path: Path):
    value = top.get(key)
    if value is not None and not isinstance(value, kind):
        raise UserError(f"{path}: {key!r} must be {'an object' if kind is dict else 'a string'}")
    return value


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read once: `kind` is "retrain" (layout checked) or "supernet" (checked when loaded
    into its run's trainer); `run` is a supernet checkpoint's run folder (the one holding config.json)."""

    path: Path
    kind: str
    state: dict
    run: Path | None = None


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint at `path`, a file or a folder holding checkpoint.pt (read with weights_only=True); an
    ensemble run's folder (`train --members`) gives its first member's."""
    path = Path(path)
    checkpoint = path / CHECKPOINT if path.is_dir() else path
    if path.is_dir() and not checkpoint.exists() and (member_folder(path, 0) / CHECKPOINT).exists():
        checkpoint = member_folder(path, 0) / CHECKPOINT
    state = load_checkpoint(checkpoint)
    if state.get("format") == SUPERNET_FORMAT:
        return Checkpoint(checkpoint, "supernet", state, _run_folder(checkpoint))
    meta = state.get("meta")
    if isinstance(meta, dict) and str(meta.get("format")).startswith(RETRAIN_SCHEMA.name + "-"):
        return Checkpoint(checkpoint, "retrain", check_checkpoint(state, RETRAIN_SCHEMA, str(checkpoint)))
    raise UserError(f"{checkpoint} is neither a retrain nor a supernet training checkpoint")


def _run_folder(checkpoint: Path) -> Path:
    """The run a supernet checkpoint belongs to: its folder, or RUN for a kept RUN/checkpoints/stepN.pt."""
    folder = checkpoint.parent
    if not (folder / RUN_CONFIG).is_file() and folder.name == KEPT_CHECKPOINTS:
        folder = folder.parent
    if not (folder / RUN_CONFIG).is_file():
        where = "beside it" + (f" or in {folder}" if folder != checkpoint.parent else "")
        raise UserError(f"{checkpoint} is a supernet checkpoint, but no {RUN_CONFIG} of its run is {where}")
    return folder


@dataclass
class RetrainedNetworks:
    """The networks of a retrain checkpoint (on the CPU, in training mode) and what they were built from."""

    supernet: object  # the space's supernet at the recorded settings (its `space`, `cost`, `input_shape`)
    arch: tuple
    nets: list[nn.Module]


def retrained_networks(checkpoint: Checkpoint, members: list[int] | None = None) -> RetrainedNetworks:
    """Members `members` (all by default) of a retrain checkpoint, with their saved weights."""
    from samplenas.supernet.factory import make_supernet

    meta, saved = checkpoint.state["meta"], checkpoint.state["members"]
    if not saved:
        raise UserError(f"{checkpoint.path}: damaged retrain checkpoint (no member weights)")
    members = list(range(len(saved))) if members is None else members
    for index in members:
        if not 0 <= index < len(saved):
            raise UserError(f"{checkpoint.path} holds {len(saved)} network(s); member {index} is out of range "
                            f"0..{len(saved) - 1}")
    try:
        supernet = make_supernet(meta["space"], meta["settings"])
    except (TypeError, ValueError) as err:
        raise UserError(f"{checkpoint.path}: its network settings do not build ({err})") from None
    arch = supernet.space.validate(meta["arch"])
    nets = []
    for index in members:
        net = supernet.build(arch)
        try:
            net.load_state_dict(saved[index]["model"])
        except STATE_ERRORS as err:
            raise UserError(f"{checkpoint.path}: member {index}'s weights do not fit its recorded network settings "
                            f"({(str(err).splitlines() or [''])[0].strip()[:200]})") from None
        nets.append(net)
    return RetrainedNetworks(supernet, arch, nets)
