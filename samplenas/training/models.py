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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from samplenas.errors import UserError
from samplenas.supernet.factory import network_settings
from samplenas.training import supernet_run, supernet_train
from samplenas.training.artifacts import Checkpoint, read_checkpoint, read_top, retrained_networks
from samplenas.training.devices import resolve_device


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


@dataclass(frozen=True)
class OpenedWith:
    """What `open_model` opens a network with, known before it builds it or reads any data: the data set
    and folder, the network settings, the file they come from, and which of them the caller `given`
    ("data_dir") rather than the run. A retrained network reads no data; its are those it was trained on."""

    data: str
    data_dir: str | None
    network: dict
    source: Path
    given: tuple[str, ...] = ()


def load_model(path, arch: str | None = None, member: int = 0, device: str | None = "cpu",
               data_dir: str | None = None) -> nn.Module:
    """The trained network saved at `path` (see the module docstring), in eval mode.

    `arch`: with a supernet run, the architecture to extract (readable form or comma-separated ints);
    `member`: which network of an ensemble retrain; `data_dir`: where the run's data set lives when it
    moved (supernet runs read a few training batches to calibrate batch norm).
    """
    return open_model(path, arch, member, device, data_dir).net


def open_model(path, arch: str | None = None, member: int = 0, device: str | None = "cpu",
               data_dir: str | None = None, announce: Callable[[OpenedWith], None] | None = None) -> LoadedModel:
    """`load_model` with its description (space, architecture, settings, input shape); `announce` is
    called with the settings it uses before the work starts (a command prints them)."""
    if device is not None:
        resolve_device(device)  # a device this machine lacks is one line, before any loading
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist (expected a retrain folder, a train run or a search's top.json)")
    if path.is_file() and path.suffix == ".json":
        if arch is not None:
            raise UserError(f"{path} names its own architecture; pass the run folder to choose another")
        top = read_top(path)
        if top.kind != "search":
            raise UserError(f"{path} is {top.kind} output, whose networks were trained on their own: retrain its "
                            f"best (samplenas retrain --from {path}) and load that")
        run = top.run or path.parent  # the run it names, or the folder holding it
        trainer = _open_run(run, device, data_dir, announce)
        return _open_supernet_run(trainer, Path(trainer.loaded_from), arch=top.best, space=top.space)
    checkpoint = read_checkpoint(path)
    if checkpoint.kind == "supernet":
        trainer = _open_run(checkpoint.run, device, data_dir, announce, checkpoint)
        return _open_supernet_run(trainer, checkpoint.path, arch)
    if arch is not None:
        raise UserError(f"{checkpoint.path} is a retrained network of one architecture; arch cannot be chosen")
    if announce is not None:
        meta = checkpoint.state["meta"]
        announce(OpenedWith(meta["data"], meta["data_dir"], meta["recipe"]["network"], checkpoint.path))
    return _open_retrain(checkpoint, member, device)


def _open_run(run: Path, device: str | None, data_dir: str | None, announce, checkpoint: Checkpoint | None = None):
    """The supernet run's trainer, `announce`d before it loads its data."""
    config = supernet_run.run_config(run, device, data_dir)
    if announce is not None:
        announce(OpenedWith(config.data, config.data_dir, config.network_settings(), run / supernet_train.CONFIG,
                            ("data_dir",) if data_dir is not None else ()))
    if checkpoint is None:
        return supernet_run.open_run(run, config=config)
    return supernet_run.open_run(run, checkpoint=checkpoint.path, state=checkpoint.state, config=config)


def _open_retrain(checkpoint: Checkpoint, member: int, device: str | None) -> LoadedModel:
    built = retrained_networks(checkpoint, [member])
    meta = checkpoint.state["meta"]
    return LoadedModel(built.nets[0].to(device or "cpu").eval(), "retrain", meta["space"],
                       built.supernet.space.to_str(built.arch), dict(meta["settings"]),
                       tuple(built.supernet.input_shape), str(checkpoint.path))


def _open_supernet_run(trainer, source: Path, arch: str | None, space: str | None = None) -> LoadedModel:
    from samplenas.training.supernet_eval import score_arch

    if space is not None and space != trainer.config.space:
        raise UserError(f"top.json holds {space} architectures but its run trained {trainer.config.space}")
    supernet = trainer.supernet
    settings = network_settings(trainer.config.space, trainer.recipe.network, trainer.data.info)
    if arch is None:
        return LoadedModel(supernet.eval(), "supernet", trainer.config.space, None, settings,
                           tuple(supernet.input_shape), str(source))
    chosen = trainer.space.parse(arch)
    score = score_arch(supernet, chosen, trainer.task, trainer.val, trainer.calibration, amp=False)
    net = supernet.extract(chosen).eval()  # after score_arch: carries the calibrated BN statistics
    return LoadedModel(net, "extracted", trainer.config.space, trainer.space.to_str(chosen), settings,
                       tuple(supernet.input_shape), str(source), score)
