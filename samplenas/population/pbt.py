"""PBT-NAS (shared/papers/pbt-nas-shrink-perturb.txt, Algorithm 1): synchronous population based
training whose exploit step replaces the worst tau % of the members with mixes of the best tau %.

Every round, each of the N members trains `step_epochs` epochs as one Ray task on the population
engine (`pbt_member.train_round`; why tasks and not actors is said there) and is scored on the
validation split; the round waits for every member (synchronous PBT: architectures train at different
speeds, and the paper uses the synchronous variant so as not to favour fast ones). Then each of the
worst floor(N * tau) members is replaced by a child of two members drawn from the best floor(N * tau)
(`mixing.mix`); no replacement follows the last round.

Methods (all through the same engine, the same N, epochs and rounds, so the same training budget):

* `pbt-nas` -- mixing with shrink-perturb [lambda, gamma] = [0.4, 0.1] (the paper's default);
* `copy` / `reinit` -- the same mixing with [1, 0] / [0, 1] (paper Table 2);
* `no-mixing` -- a top member mixed with itself: same architecture, its drawn layers shrink-perturbed;
* `searl` -- SEARL-like mutation of the better of two top members: with equal probability resample one
  variable (its module freshly initialised), perturb the weights (SEARL's rule), or no change;
* `random` -- random search: N random architectures trained for all epochs, no replacement.

Optimiser state of a child: parameters kept from the better parent unchanged keep their optimiser
state (momentum buffers / Adam moments); every moved, refitted or fresh parameter starts with none,
as a newly created parameter would (`Child.kept_params`). The child keeps its slot's data stream
position and the better parent's step count (all members are at the same step; the schedule goes on).

Resume: the driver state (`pbt_state.json`: round, members, history, the numpy RNG) is written
atomically after every round, after the round's member files exist; `--resume` re-runs the
interrupted round from the files the state names. Tasks are deterministic given their payload, so
the resumed run is the uninterrupted one exactly.

At the end: the best member (by its last validation fitness) is evaluated on the test split, and a
greedy model soup (Wortsman et al. 2022, as the paper's Table 4) is made over the members that share
its architecture: candidates in order of validation fitness, each kept if the averaged weights
(running BN statistics included) score better on validation.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from samplenas.errors import UserError
from samplenas.population.candidate import check_network
from samplenas.population.driver import RaySettings, session, stream
from samplenas.population.figures import plot_lineage
from samplenas.population.mixing import ShrinkPerturb, assemble, check_mixable, mix, perturb_weights, resample_one
from samplenas.population.monitor import SearchMonitor
from samplenas.population.pbt_member import (
    build_member,
    evaluate,
    fitness_of,
    initial_state,
    job_data,
    job_supernet,
    seed_of,
    train_round,
)
from samplenas.population.rundir import (
    RAY_LOG,
    announce_finished,
    check_generator_state,
    check_out,
    read_log,
    read_result,
)
from samplenas.training.checkpoint import load_checkpoint, save_checkpoint, save_json
from samplenas.training.recipes import Recipe, build_optimizer
from samplenas.training.rundir import remove_run
from samplenas.training.typed_config import MAX_SEED, bounded, check_fields

METHODS = ("pbt-nas", "copy", "reinit", "no-mixing", "searl", "random")
MIXING_METHODS = ("pbt-nas", "copy", "reinit", "no-mixing")
SHRINK_PERTURB = {"pbt-nas": (0.4, 0.1), "no-mixing": (0.4, 0.1), "copy": (1.0, 0.0), "reinit": (0.0, 1.0)}
STATE = "pbt_state.json"
RESULT = "result.json"
LOG = "evaluations.jsonl"
LINEAGE = "lineage.png"
MEMBERS, TENSORBOARD = "members", "tensorboard"
FORMAT = "samplenas-pbt-1"


@dataclass
class PBTJob:
    """A PBT run. `recipe.epochs` is the total epochs each member trains (E)."""

    space: str
    data: str
    out: Path
    recipe: Recipe
    population: int = bounded(8, ge=2)
    step_epochs: int = bounded(1, ge=1)
    method: str = "pbt-nas"
    tau: float = bounded(0.25, gt=0, lt=1)
    p: float = bounded(0.25, gt=0, lt=1)
    shrink: float | None = bounded(None, ge=0)  # None: the method's value
    perturb: float | None = bounded(None, ge=0)
    data_dir: str | None = None
    seed: int = bounded(0, ge=0, le=MAX_SEED)
    ray: RaySettings = field(default_factory=RaySettings)
    limit: int | None = bounded(None, ge=1)
    val_fraction: float = bounded(0.1, gt=0, lt=1)
    resume: bool = False
    overwrite: bool = False  # replace the PBT run already in `out` (once every input was validated)
    progress: bool = True
    hold: dict | None = None  # test hook, see pbt_member._hold_for_test
    command: list[str] = field(default_factory=lambda: list(sys.argv))

    @property
    def rounds(self) -> int:
        return self.recipe.epochs // self.step_epochs

    @property
    def n_replaced(self) -> int:
        return int(math.floor(self.population * self.tau + 1e-9))

    def shrink_perturb(self) -> ShrinkPerturb:
        shrink, perturb = SHRINK_PERTURB.get(self.method, (0.4, 0.1))
        return ShrinkPerturb(shrink if self.shrink is None else self.shrink,
                             perturb if self.perturb is None else self.perturb)


def check_job(job: PBTJob) -> None:
    """Every flag, before any work: one-line UserError naming the first problem."""
    if job.method not in METHODS:
        raise UserError(f"unknown --method {job.method!r}; valid: {', '.join(METHODS)}")
    if job.method != "random":
        check_mixable(job.space)
    check_fields(job, flags=True)
    job.ray.check()  # an unreachable cluster fails before anything is written
    if job.tau > 0.5:
        raise UserError(f"--tau must be at most 0.5 (the worst and the best tau % would overlap), got {job.tau}")
    need = 2 if job.method in ("pbt-nas", "copy", "reinit") else 1
    if job.method != "random" and job.n_replaced < need:
        raise UserError(f"--population {job.population} is too small for --tau {job.tau}: floor(N * tau) = "
                        f"{job.n_replaced}, and {job.method} needs at least {need} member(s) in the best tau % "
                        f"(population >= {math.ceil(need / job.tau)})")
    if job.recipe.epochs % job.step_epochs:
        raise UserError(f"--step-epochs {job.step_epochs} must be a positive divisor of --epochs {job.recipe.epochs}")


def job_dict(job: PBTJob, settings: dict) -> dict:
    """What a member task needs to rebuild the data and networks (JSON-able, identical on resume)."""
    return {"space": job.space, "data": job.data, "data_dir": job.data_dir, "val_fraction": job.val_fraction,
            "seed": job.seed, "limit": job.limit, "recipe": job.recipe.to_dict(), "settings": settings}


def fingerprint(job: PBTJob, settings: dict) -> dict:
    """What must match for `--resume` (data_dir and worker count may change)."""
    fields = {k: v for k, v in job_dict(job, settings).items() if k != "data_dir"}
    return {**fields, "format": FORMAT, "population": job.population, "step_epochs": job.step_epochs,
            "method": job.method, "tau": job.tau, "p": job.p,
            "shrink_perturb": [job.shrink_perturb().shrink, job.shrink_perturb().perturb]}


# --- the exploit step --------------------------------------------------------------------------------
def select(fitness: list[float], n: int) -> tuple[list[int], list[int]]:
    """(worst n slots ascending by slot, best n slots); NaN and -inf rank lowest, ties by slot."""
    keyed = [f if f is not None and math.isfinite(f) else -math.inf for f in fitness]
    order = sorted(range(len(keyed)), key=lambda i: (keyed[i], i))
    return sorted(order[:n]), order[len(order) - n:]


def transfer_optimizer(job: dict, parent_arch, parent_optimizer: dict | None, child) -> dict | None:
    """The child's optimiser state: the better parent's per-parameter state for `child.kept_params`,
    none for the rest (see the module docstring)."""
    if parent_optimizer is None:
        return None
    supernet = job_supernet(job)
    parent_names = [n for n, p in supernet.build(tuple(parent_arch)).named_parameters() if p.requires_grad]
    index = {name: i for i, name in enumerate(parent_names)}
    child_net = supernet.build(tuple(child.arch))
    child_names = [n for n, p in child_net.named_parameters() if p.requires_grad]
    state = build_optimizer(child_net.parameters(), Recipe(**job["recipe"])).state_dict()
    state["param_groups"][0].update({k: v for k, v in parent_optimizer["param_groups"][0].items() if k != "params"})
    kept = {}
    for i, name in enumerate(child_names):
        source = child.kept_params.get(name)
        if source is not None and index[source] in parent_optimizer["state"]:
            kept[i] = parent_optimizer["state"][index[source]]
    state["state"] = kept
    return state


def make_child(job: PBTJob, jd: dict, parents: tuple[dict, dict], rng: np.random.Generator, seed: int):
    """(child, description) from (better, other) parent states by `job.method`."""
    supernet = job_supernet(jd)
    better, other = parents
    b = (tuple(better["arch"]), better["model"])
    if job.method in ("pbt-nas", "copy", "reinit"):
        return mix(supernet, b, (tuple(other["arch"]), other["model"]), job.p, job.shrink_perturb(), rng, seed), "mix"
    if job.method == "no-mixing":
        return mix(supernet, b, b, job.p, job.shrink_perturb(), rng, seed), "self-mix"
    kind = int(rng.integers(3))  # searl: resample one variable / perturb weights / no change
    if kind == 0:
        arch, sources, origins = resample_one(supernet.space, b[0], rng)
        return assemble(supernet, arch, sources, origins, b, None, ShrinkPerturb(0.0, 1.0), seed), "resample"
    unchanged = assemble(supernet, b[0], [0] * len(b[0]), list(range(len(b[0]))), b, None, ShrinkPerturb(), seed)
    if kind == 1:
        unchanged.state = perturb_weights(unchanged.state, rng)
        return unchanged, "perturb"
    return unchanged, "clone"


# --- the run --------------------------------------------------------------------------------------
class PBTRun:
    """Driver of one run; see the module docstring. `run()` returns the result dict."""

    def __init__(self, job: PBTJob):
        check_job(job)
        self.job = job
        self.out = Path(job.out)
        from samplenas.supernet.factory import network_settings

        probe = {"data": job.data, "data_dir": job.data_dir, "val_fraction": job.val_fraction, "seed": job.seed,
                 "limit": job.limit, "recipe": job.recipe.to_dict()}
        self.data = job_data(probe)
        if (job.space == "autoencoder") != (job.recipe.task != "classification"):
            raise UserError(f"task {job.recipe.task!r} does not fit the {job.space} space")
        check_network(job.space, job.recipe.network)  # types and ranges, as evolve's --network
        self.settings = network_settings(job.space, job.recipe.network, self.data.info)
        self.jd = job_dict(job, self.settings)
        self.supernet = job_supernet(self.jd)
        self.space = self.supernet.space
        self.steps_per_epoch = len(self.data.train) // job.recipe.batch_size
        if self.steps_per_epoch == 0:
            raise UserError(f"batch size {job.recipe.batch_size} exceeds the {len(self.data.train)} training examples")
        self.total_steps = job.recipe.epochs * self.steps_per_epoch
        self.saved = self._check_out()  # every file a resume reads, checked before anything is written

    def _check_out(self) -> dict | None:
        """--out can take this run (no other command's run, see population.rundir); with --resume the
        saved state, evaluations.jsonl and result.json are read and checked completely. Writes nothing."""
        from samplenas.population.engine import load_state

        job = self.job
        check_out(self.out, "pbt", job.resume, own_files=(STATE,), overwrite=job.overwrite)
        if not job.resume:
            return None
        path = self.out / STATE
        if not path.exists():
            raise UserError(f"{path} not found: nothing to resume")
        state = load_state(path)
        saved, current = state.get("fingerprint"), fingerprint(job, self.settings)
        if not isinstance(saved, dict):
            raise UserError(f"{path}: no 'fingerprint' object; the state file is damaged")
        differing = [k for k in current if saved.get(k) != current[k]]
        if differing:
            raise UserError(f"cannot resume {path}: it was written for a different {differing[0]} "
                            f"({saved.get(differing[0])!r} != {current[differing[0]]!r})")
        self._check_state(path, state)
        read_log(self.out / LOG, ("key", "fitness", "metrics", "round", "slot"))
        read_result(self.out / RESULT, FORMAT)
        return state

    def _check_state(self, path: Path, state: dict) -> None:
        """Every field `run` and `finish` read, with its type (one line naming the first damage)."""
        job = self.job

        def damaged(what: str) -> UserError:
            return UserError(f"{path}: {what}; the state file is damaged (restore it, or start again in another "
                             "--out)")

        def is_int(value) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        def is_number(value) -> bool:
            return value is None or (isinstance(value, int | float) and not isinstance(value, bool))

        for name, kind in (("round", int), ("members", list), ("history", list), ("rng", dict),
                           ("elapsed_s", float)):
            value = state.get(name, ...)
            if value is ...:
                raise damaged(f"no {name!r}")
            ok = is_int(value) if kind is int else is_number(value) and value is not None if kind is float \
                else isinstance(value, kind)
            if not ok:
                raise damaged(f"{name!r} is not {'a number' if kind in (int, float) else 'a ' + kind.__name__}")
        if not 0 <= state["round"] <= job.rounds:
            raise damaged(f"round {state['round']} is outside 0..{job.rounds}")
        if len(state["members"]) != job.population:
            raise damaged(f"{len(state['members'])} members, not {job.population}")
        for slot, member in enumerate(state["members"]):
            if not isinstance(member, dict) or member.get("slot") != slot:
                raise damaged(f"members[{slot}] is not the member of slot {slot}")
            arch = member.get("arch")
            if not isinstance(arch, list) or not all(is_int(v) for v in arch):
                raise damaged(f"members[{slot}]: 'arch' is not a list of integers")
            try:
                self.space.validate(arch)
            except (ValueError, TypeError, IndexError) as err:
                raise damaged(f"members[{slot}]: 'arch' is not an architecture of the space "
                              f"({str(err).splitlines()[0]})") from None
            if not isinstance(member.get("start"), str) or not is_int(member.get("born")):
                raise damaged(f"members[{slot}]: no 'start' file name or 'born' round")
            if not Path(self.member_path(member["start"])).is_file():
                raise UserError(f"cannot resume {self.out}: member file {self.member_path(member['start'])} of slot "
                                f"{slot} is missing")
        if len(state["history"]) != state["round"]:
            raise damaged(f"{len(state['history'])} rounds of history for round {state['round']}")
        for k, entry in enumerate(state["history"]):
            if not (isinstance(entry, dict) and isinstance(entry.get("fitness"), list)
                    and len(entry["fitness"]) == job.population and all(is_number(f) for f in entry["fitness"])
                    and isinstance(entry.get("replaced"), list) and is_number(entry.get("wall_s"))
                    and all(isinstance(r, dict) and isinstance(r.get("slot"), int)
                            and isinstance(r.get("parents"), list) and isinstance(r.get("moved"), list)
                            for r in entry["replaced"])):
                raise damaged(f"history[{k}] is not a round's record")
        check_generator_state(state["rng"], damaged)

    # -- files
    def member_file(self, slot: int, round_: int, kind: str) -> str:
        """A member file's name as the state stores it: relative to OUT, so a moved run still resumes."""
        return f"members/slot{slot:03d}.{kind}{round_:04d}.pt"

    def member_path(self, name: str) -> str:
        """The file of a stored member name (older states stored whole paths: their file name counts)."""
        return str(self.out / "members" / Path(name).name)

    def _start(self) -> dict:
        job = self.job
        if job.resume:
            return self.saved  # checked completely in __init__ (and again under the lock)
        rng = np.random.default_rng(job.seed)
        members = []
        for slot in range(job.population):
            arch = self.space.sample(rng)
            start = self.member_file(slot, 0, "start")
            save_checkpoint(self.member_path(start), initial_state(self.jd, arch, slot))
            members.append({"slot": slot, "arch": list(arch), "start": start, "born": 0, "parents": None})
        state = {"fingerprint": fingerprint(job, self.settings), "round": 0, "members": members, "history": [],
                 "rng": rng.bit_generator.state, "elapsed_s": 0.0}
        self._save(state)
        return state

    def _save(self, state: dict) -> None:
        from samplenas.population.engine import save_state

        save_state(self.out / STATE, state)

    # -- one round
    def _train(self, engine, state: dict, round_: int, log, monitor: SearchMonitor) -> dict[int, object]:
        job = self.job
        steps = job.step_epochs * self.steps_per_epoch
        jobs = []
        for member in state["members"]:
            slot = member["slot"]
            key = f"r{round_:04d}/s{slot:03d}"
            jobs.append((key, {"key": key, "job": self.jd, "slot": slot, "round": round_,
                               "start": load_checkpoint(self.member_path(member["start"])), "steps": steps,
                               "total_steps": self.total_steps, "hold": job.hold, "device": job.ray.device}))

        def to_record(result) -> dict:  # the member's next state goes to its file, not to the log
            slot = int(result.key.split("/s")[1])
            save_checkpoint(self.member_path(self.member_file(slot, round_, "end")), result.metrics.pop("state"))
            record = result.to_record()
            record.update(round=round_, slot=slot, arch=self.space.to_str(state["members"][slot]["arch"]))
            return record

        monitor.label(f"round {round_ + 1}/{job.rounds}")
        results = {}
        for result, record in stream(engine, jobs, log, to_record, monitor):
            results[record["slot"]] = result
            monitor.status(f"best {max(r.fitness for r in results.values()):.4g}")
        return results

    def _exploit(self, state: dict, round_: int, fitness: list[float]) -> list[dict]:
        """Replace the worst members (writes their next start files); returns what was replaced."""
        job = self.job
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        ends = {m["slot"]: self.member_file(m["slot"], round_, "end") for m in state["members"]}
        for member in state["members"]:
            member["start"] = ends[member["slot"]]
        if job.method == "random":
            return []
        worst, best = select(fitness, job.n_replaced)
        replaced = []
        for slot in worst:
            a, b = (int(x) for x in rng.choice(best, 2, replace=False))
            better, other = (a, b) if (fitness[a], -a) >= (fitness[b], -b) else (b, a)
            if job.method == "no-mixing":
                other = better
            parents = (load_checkpoint(self.member_path(ends[better])), load_checkpoint(self.member_path(ends[other])))
            child, how = make_child(job, self.jd, parents, rng, seed_of(job.seed, round_, slot, 0xC41D))
            own = load_checkpoint(self.member_path(ends[slot]))
            start = self.member_file(slot, round_ + 1, "start")
            save_checkpoint(self.member_path(start), {
                "arch": list(child.arch), "model": child.state,
                "optimizer": transfer_optimizer(self.jd, parents[0]["arch"], parents[0]["optimizer"], child),
                "steps": parents[0]["steps"], "stream": own["stream"]})
            member = state["members"][slot]
            entry = {"slot": slot, "parents": [better, other], "how": how, "moved": child.moved,
                     "arch_before": self.space.to_str(member["arch"]), "arch_after": self.space.to_str(child.arch),
                     "fitness_before": fitness[slot]}
            member.update(arch=list(child.arch), start=start, born=round_ + 1, parents=[better, other])
            replaced.append(entry)
        state["rng"] = rng.bit_generator.state
        return replaced

    def _cleanup(self, state: dict) -> None:
        """Delete member files no member starts from any more (the state file was saved first)."""
        keep = {Path(m["start"]).name for m in state["members"]}
        for path in (self.out / "members").glob("slot*.pt"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def run(self) -> dict:
        def recheck() -> None:  # the resume files, again under the lock
            self.saved = self._check_out()

        done = self._finished()
        if done is not None:
            return done
        with session(self.out, (STATE,), self.job.ray, recheck):  # a failure before the state leaves nothing
            return self._run()

    def _finished(self) -> dict | None:
        """A resumed run that has trained every round and written its result has nothing left to do: its
        result, read back, touching no file (a rerun of `finish` would rewrite result.json and lineage.png
        and add a TensorBoard file). None otherwise; a run killed before its result.json finishes now."""
        if self.saved is None or self.saved["round"] < self.job.rounds:
            return None
        result = read_result(self.out / RESULT, FORMAT)
        if result is not None:
            announce_finished(self.out, "PBT")
        return result

    def _run(self) -> dict:
        from samplenas.population.engine import ResultsLog

        job = self.job
        if job.overwrite:
            remove_run(self.out, (STATE, LOG, RESULT, LINEAGE, RAY_LOG), (MEMBERS, TENSORBOARD))
        (self.out / RESULT).unlink(missing_ok=True)  # a result.json only ever describes a finished run
        state = self._start()
        log = ResultsLog(self.out / LOG)
        monitor = SearchMonitor(self.out / TENSORBOARD, job.progress, state["round"] + 1 if job.resume else None)
        try:
            engine = job.ray.engine(train_round, self.data)  # the data: put once, by reference
            for round_ in range(state["round"], job.rounds):
                started = time.perf_counter()
                results = self._train(engine, state, round_, log, monitor)
                fitness = [results[s].fitness for s in range(job.population)]
                last = round_ == job.rounds - 1
                replaced = [] if last else self._exploit(state, round_, fitness)
                if last:
                    for member in state["members"]:
                        member["start"] = self.member_file(member["slot"], round_, "end")
                wall = time.perf_counter() - started
                state["history"].append({"round": round_, "fitness": fitness, "replaced": replaced,
                                         "archs": [self.space.to_str(m["arch"]) for m in state["members"]],
                                         "wall_s": wall, "train_wall_s": [results[s].wall_s for s in
                                                                          range(job.population)]})
                state["round"] = round_ + 1
                state["elapsed_s"] = float(state["elapsed_s"]) + wall
                self._save(state)
                self._cleanup(state)
                self._log_round(monitor, round_, fitness, replaced)
        finally:
            monitor.close()
        return self.finish(state)

    def _log_round(self, monitor: SearchMonitor, round_: int, fitness: list[float], replaced: list[dict]) -> None:
        step = round_ + 1
        finite = [f for f in fitness if f is not None and math.isfinite(f)]
        monitor.scalars(step, {
            **{f"fitness/slot{slot:03d}": value for slot, value in enumerate(fitness)},
            "population/best": max(finite) if finite else None,
            "population/mean": float(np.mean(finite)) if finite else None,
            "population/replaced": len(replaced),
            "population/positions_moved": sum(len(r["moved"]) for r in replaced)})
        for entry in replaced:
            monitor.text(f"arch/slot{entry['slot']:03d}",
                         f"round {step}: {entry['how']} of {entry['parents']}: {entry['arch_after']}", step)

    # -- the end
    def finish(self, state: dict) -> dict:
        job = self.job
        fitness = [f if f is not None else -math.inf for f in state["history"][-1]["fitness"]]
        ranked = sorted(range(job.population), key=lambda s: (-fitness[s], s))
        best = ranked[0]
        members = {s: load_checkpoint(self.member_path(state["members"][s]["start"])) for s in range(job.population)}
        best_net, _ = build_member(self.jd, members[best]["arch"], members[best])
        test = evaluate(self.jd, self.data, [best_net], "test")[0]
        soup = self.soup(members, ranked, fitness, test)
        top = [{"arch": self.space.to_str(state["members"][s]["arch"]), "arch_ints": state["members"][s]["arch"],
                "fitness": fitness[s], "slot": s} for s in ranked]
        metric = "accuracy" if job.recipe.task == "classification" else "psnr"
        result = {
            "format": FORMAT, "space": job.space, "method": job.method, "data": job.data, "data_dir": job.data_dir,
            "task": job.recipe.task,
            "fitness_metric": f"validation {metric}", "top": top,
            "best": {"slot": best, "arch": top[0]["arch"], "val_fitness": fitness[best], "test": test,
                     "params": self.supernet.cost(tuple(members[best]["arch"]))["params"]},
            "soup": soup, "population": job.population, "epochs": job.recipe.epochs, "step_epochs": job.step_epochs,
            "rounds": job.rounds, "tau": job.tau, "p": job.p,
            "shrink_perturb": [job.shrink_perturb().shrink, job.shrink_perturb().perturb],
            "replacements": sum(len(h["replaced"]) for h in state["history"]),
            "round_wall_s": [h["wall_s"] for h in state["history"]], "elapsed_s": state["elapsed_s"],
            "workers": job.ray.workers, "seed": job.seed, "settings": self.settings, "recipe": job.recipe.to_dict(),
            "command": job.command,
        }
        self.plot_lineage(state)
        save_json(self.out / RESULT, result)  # save_json writes strict JSON itself
        return result

    def soup(self, members: dict, ranked: list[int], fitness: list[float], best_test: dict) -> dict:
        """Greedy soup over the members sharing the winner's architecture (validation decides)."""
        best = ranked[0]
        same = [s for s in ranked if members[s]["arch"] == members[best]["arch"]]
        ingredients = [best]
        soup_state = members[best]["model"]
        soup_fitness = fitness[best]
        history = []
        task = self.job.recipe.task
        for slot in same[1:]:
            candidate = average_states([members[s]["model"] for s in ingredients + [slot]])
            net, _ = build_member(self.jd, members[best]["arch"], {"model": candidate})
            value = fitness_of(evaluate(self.jd, self.data, [net], "val")[0], task)
            accepted = value > soup_fitness
            history.append({"candidate": slot, "val_fitness": value, "accepted": accepted})
            if accepted:
                ingredients.append(slot)
                soup_state, soup_fitness = candidate, value
        net, _ = build_member(self.jd, members[best]["arch"], {"model": soup_state})
        test = evaluate(self.jd, self.data, [net], "test")[0]
        metric = "accuracy" if task == "classification" else "psnr"
        return {"candidates": same, "ingredients": ingredients, "val_fitness": soup_fitness, "test": test,
                "gain": test[metric] - best_test[metric], "gain_metric": f"test {metric}", "history": history}

    def plot_lineage(self, state: dict) -> None:
        metric = "accuracy" if self.job.recipe.task == "classification" else "PSNR (dB)"
        plot_lineage(state["history"], self.job.population, self.out / LINEAGE, f"validation {metric}",
                     f"PBT lineage: {self.job.method}, {self.job.space}, N={self.job.population}")


def average_states(states: list[dict]) -> dict:
    """Element-wise mean of float tensors (weights and BN statistics); integer counters from the first."""
    out = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            out[key] = torch.stack([s[key] for s in states]).mean(dim=0)
        else:
            out[key] = value.clone()
    return out


def run_pbt(job: PBTJob) -> dict:
    return PBTRun(job).run()
