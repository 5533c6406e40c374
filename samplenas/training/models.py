"""Trained networks back from disk: `load_model(path)` (public as `samplenas.load_model`).

Three kinds of path are understood, told apart by what the checkpoint says it is, not by names:

- a retrain folder (or its checkpoint.pt): the retrained network, `build(arch)` with the saved weights;
- a supernet training run (`samplenas train --out RUN`): the supernet itself, or, given `arch`, the
  architecture's standalone network with the shared weights (`extract`), after re-estimating its batch
  norm statistics on the run's training data exactly as the search scores it (the supernet's running
  statistics belong to no single path, so an extracted network would otherwise be miscalibrated);
- a search's RUN/top.json: its best architecture, taken as above from the folder holding it (search
  writes top.json into its run, so a moved run still finds its own weights), or from the run it names
  when it was copied out of its run.

Checkpoints are read with `weights_only=True` (nothing is unpickled), and their layout is checked
before any network is built, so a foreign or damaged file gives one clear line instead of a KeyError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from samplenas.errors import UserError
from samplenas.supernet.factory import make_supernet, network_settings
from samplenas.training import retrain as retrain_files
from samplenas.training import supernet_train
from samplenas.training.checkpoint import load_checkpoint


@dataclass
class LoadedModel:
    """A loaded network (eval mode, on the CPU unless asked) with what describes it."""

    net: nn.Module
    kind: str  # "retrain", "supernet" (the whole supernet) or "extracted" (one path of a supernet)
    space: str
    arch: str | None  # the architecture's readable form; None for a whole supernet
    settings: dict  # the supernet settings it was built with (op set, channels, ...)
    input_shape: tuple[int, ...]  # (C, H, W) of one input
    source: str  # the checkpoint it came from
    score: dict | None = None  # an extracted path's validation metrics after calibration (as the search scores)


def load_model(path, arch: str | None = None, member: int = 0, device: str | None = "cpu",
               data_dir: str | None = None) -> nn.Module:
    """The trained network saved at `path` (see the module docstring), in eval mode.

    `arch`: with a supernet run, the architecture to extract (readable form or comma-separated ints);
    `member`: which network of an ensemble retrain; `data_dir`: where the run's data set lives when it
    moved (supernet runs read a few training batches to calibrate batch norm).
    """
    return open_model(path, arch, member, device, data_dir).net


def open_model(path, arch: str | None = None, member: int = 0, device: str | None = "cpu",
               data_dir: str | None = None) -> LoadedModel:
    """`load_model` with its description (space, architecture, settings, input shape)."""
    if device is not None:
        supernet_train.resolve_device(device)  # a device this machine lacks is one line, before any loading
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist (expected a retrain folder, a train run or a search's top.json)")
    if path.is_file() and path.suffix == ".json":
        if arch is not None:
            raise UserError(f"{path} names its own architecture; pass the run folder to choose another")
        space, arch = retrain_files.arch_from_top(path, None)
        run = Path(retrain_files.run_from_top(path).get("run") or path.parent)  # the run it names, or beside it
        return _open_supernet_run(run, arch, space, device, data_dir)
    checkpoint = path / retrain_files.CHECKPOINT if path.is_dir() else path
    state = load_checkpoint(checkpoint)
    if state.get("format") == supernet_train.FORMAT:
        return _open_supernet_run(checkpoint.parent, arch, None, device, data_dir)
    meta = state.get("meta")
    if isinstance(meta, dict) and meta.get("format") == retrain_files.FORMAT:
        if arch is not None:
            raise UserError(f"{checkpoint} is a retrained network of one architecture; arch cannot be chosen")
        return _open_retrain(checkpoint, state, member, device)
    raise UserError(f"{checkpoint} is neither a retrain nor a supernet training checkpoint")


def _open_retrain(checkpoint: Path, state: dict, member: int, device: str | None) -> LoadedModel:
    meta, members = state["meta"], state.get("members")
    for key, kind in (("space", str), ("arch", list), ("settings", dict)):
        if not isinstance(meta.get(key), kind):
            raise UserError(f"{checkpoint}: damaged retrain checkpoint (meta.{key} is not a {kind.__name__})")
    if not isinstance(members, list) or not members or not all(
            isinstance(m, dict) and isinstance(m.get("model"), dict) for m in members):
        raise UserError(f"{checkpoint}: damaged retrain checkpoint (no member weights)")
    if not 0 <= member < len(members):
        raise UserError(f"{checkpoint} holds {len(members)} network(s); member {member} is out of range "
                        f"0..{len(members) - 1}")
    supernet = make_supernet(meta["space"], meta["settings"])
    arch = supernet.space.validate(meta["arch"])
    net = supernet.build(arch)
    try:
        net.load_state_dict(members[member]["model"])
    except RuntimeError as err:
        raise UserError(f"{checkpoint}: the saved weights do not fit the network "
                        f"({(str(err).splitlines() or ['mismatch'])[0]})") from None
    return LoadedModel(net.to(device or "cpu").eval(), "retrain", meta["space"], supernet.space.to_str(arch),
                       dict(meta["settings"]), tuple(supernet.input_shape), str(checkpoint))


def _open_supernet_run(run: Path, arch: str | None, space: str | None, device: str | None,
                       data_dir: str | None) -> LoadedModel:
    from samplenas.training.supernet_eval import score_arch

    trainer = supernet_train.open_run(run, device, data_dir)
    if space is not None and space != trainer.config.space:
        raise UserError(f"top.json holds {space} architectures but the run {run} trained {trainer.config.space}")
    supernet, source = trainer.supernet, str(run / supernet_train.CHECKPOINT)
    settings = network_settings(trainer.config.space, trainer.recipe.network, trainer.data.info)
    if arch is None:
        return LoadedModel(supernet.eval(), "supernet", trainer.config.space, None, settings,
                           tuple(supernet.input_shape), source)
    chosen = trainer.space.parse(arch)
    score = score_arch(supernet, chosen, trainer.task, trainer.val, trainer.calibration, amp=False)
    net = supernet.extract(chosen).eval()  # after score_arch: carries the calibrated BN statistics
    return LoadedModel(net, "extracted", trainer.config.space, trainer.space.to_str(chosen), settings,
                       tuple(supernet.input_shape), source, score)
