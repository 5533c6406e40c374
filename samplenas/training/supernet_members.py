"""Ensemble runs: `samplenas train --members K` trains K supernets alike but for their seed, each for a K-th of
the steps, in one run folder that `search` and `rank` score as one supernet (`supernet_ensemble`).

On NB101 a supernet orders cells about as well after a quarter of its training as at its end, and supernets of
different seeds err partly on different cells: four trained a quarter as long, averaged, ranked the table's cells
better than one trained the whole time, at the same cost (docs/results/nb101-scorers.md, "An ensemble at the cost
of one supernet").

Layout: OUT/config.json holds the settings asked for (`members` > 1), OUT/summary.json the ensemble's summary,
OUT/supernets/<i>/ member i, an ordinary run of `TrainConfig.member(i)` (config, checkpoint, summary, TensorBoard).
`search`, `rank` and `fit-scorer` score the members as one; export and `load_model`, which need one network,
extract it from member 0.
"""

from __future__ import annotations

from pathlib import Path

from samplenas.training.checkpoint import CHECKPOINT, save_json
from samplenas.training.distributed import World, on_main
from samplenas.training.supernet_train import CONFIG, SUMMARY, SupernetTrainer, check_same_config
from samplenas.training.train_config import TrainConfig, read_json_object

SUPERNETS = "supernets"  # OUT/supernets/<i>: the members of an ensemble run


def member_folder(run: str | Path, index: int) -> Path:
    return Path(run) / SUPERNETS / str(index)


def member_runs(run: str | Path, config: TrainConfig) -> list[Path]:
    """The run folders a run of `config` trained: itself, or its members."""
    if config.members == 1:
        return [Path(run)]
    return [member_folder(run, index) for index in range(config.members)]


def run_checkpoint(run: str | Path, config: TrainConfig) -> Path:
    """The latest checkpoint standing for a run of `config`: its own, or its first member's."""
    return member_runs(run, config)[0] / CHECKPOINT


def train_members(config: TrainConfig, out: Path, resume: bool, progress: bool = True,
                  world: World | None = None, first: SupernetTrainer | None = None) -> dict:
    """Train (or, with `resume`, continue) every member of an ensemble run in turn, in one process; OUT/summary.json.
    `first`: member 0's trainer when the caller built it (to check the settings). As fast as K separate `train`
    commands at the NB101 proxy (tools/bench_members.py: 0.99x), so this is for one folder and one command.

    A member whose summary says it finished is not opened again; one with a checkpoint continues from it
    (exactly, as any resumed run); the others start. The members' checks of their checkpoints and OUT/config.json's
    against `config` make a resumed run the one that was started."""
    world = world or World()
    on_main(lambda: _prepare(config, out, resume), world)
    summaries = []
    for index in range(config.members):
        member, folder = config.member(index), member_folder(out, index)
        finished = _finished_summary(folder, member) if resume else None
        if finished is not None:
            summaries.append(finished)
            continue
        trainer = first if index == 0 and first is not None else SupernetTrainer(member, progress=progress,
                                                                                 world=world)
        trainer.label += f" {index + 1}/{config.members}"
        summaries.append(trainer.train(folder, resume=resume and (folder / CHECKPOINT).exists()))
    summary = ensemble_summary(config, out, summaries)
    if world.is_main:
        save_json(out / SUMMARY, summary)
    return summary


def _prepare(config: TrainConfig, out: Path, resume: bool) -> None:
    """OUT/config.json: written for a new run, checked against `config` for a resumed one."""
    if resume and (out / CONFIG).is_file():
        check_same_config(read_json_object(out / CONFIG, "run config"), config.to_dict(), str(out / CONFIG))
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / CONFIG, config.to_dict())


# what `ensemble_summary` reads of a member's summary, and its types
MEMBER_SUMMARY = {"steps": int, "seconds": (int, float), "device": str, "processes": int,
                  "supernet_parameters": int, "last_evaluation": (dict, type(None))}


def _finished_summary(folder: Path, member: TrainConfig) -> dict | None:
    """The member's summary when it trained all its steps and checkpointed them; None to (re)open it (then its
    training, resumed, writes the summary again), also when the file is not the summary `train` writes."""
    if not (folder / SUMMARY).is_file() or not (folder / CHECKPOINT).is_file():
        return None
    summary = read_json_object(folder / SUMMARY, "member summary")
    whole = all(isinstance(summary.get(name), kind) and not isinstance(summary.get(name), bool)
                for name, kind in MEMBER_SUMMARY.items())
    return summary if whole and summary["steps"] == member.steps else None


def ensemble_summary(config: TrainConfig, out: Path, summaries: list[dict]) -> dict:
    """What the members trained, together; each member's own summary stays in its folder."""
    seconds = sum(float(summary["seconds"]) for summary in summaries)
    steps = sum(int(summary["steps"]) for summary in summaries)
    first = summaries[0]
    return {
        "space": config.space, "sampler": config.sampler, "data": config.data, "mode": config.mode,
        "members": config.members, "seeds": [config.member(index).seed for index in range(config.members)],
        "steps_per_member": config.member(0).steps, "steps": steps, "device": first["device"],
        "processes": first["processes"], "seconds": round(seconds, 3),
        "steps_per_second": steps / seconds if seconds > 0 else None,
        "runs": [str(folder) for folder in member_runs(out, config)],
        "last_evaluations": [summary["last_evaluation"] for summary in summaries],
        "supernet_parameters": first["supernet_parameters"], "tensorboard": str(out),
    }
