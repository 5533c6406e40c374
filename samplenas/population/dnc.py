"""Deep-n-Cheap (papers/deep-n-cheap.txt): a greedy three-stage search minimising f = f_p + w_c * c / c_0.

f_p = 1 - best validation accuracy, c = t_tr (training seconds per epoch, measured by the worker that
trains) or N_p, c_0 = the same cost of the largest configuration of the space.

1. core architecture by Bayesian optimisation (`dnc_kernel`): CNN channels per layer / MLP hidden layers,
   everything else at the presets;
2. grid searches in sequence, each freezing its best before the next (CNN: stride vs max-pool, BN fraction,
   dropout fraction and probabilities, shortcut frequency; MLP: dropout probability);
3. training hyper-parameters (lr, weight decay, batch size) by Bayesian optimisation.

Candidates are trained as Ray tasks by the population engine (several at a time, retries, the same
evaluation cache and `evaluations.jsonl`). Everything the search decides is a deterministic function of
its settings and of the evaluations it has seen, so `--resume` replays the log (cache hits) and carries on
exactly where the interrupted run stopped; `state.json` (atomic) holds the settings and progress.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from samplenas.errors import UserError
from samplenas.population import dnc_space as ds
from samplenas.population.dnc_kernel import Candidate, DncKernel, LayersTerm, ScalarTerm, bo_minimise, channel_powers
from samplenas.population.dnc_settings import DncSettings
from samplenas.population.driver import RaySettings, session, stream
from samplenas.population.engine import EvaluationCache, ResultsLog, load_state, save_state
from samplenas.population.monitor import SearchMonitor
from samplenas.population.rundir import RAY_LOG, announce_finished, check_out, read_log, read_result
from samplenas.training.rundir import remove_run

FORMAT = "samplenas-dnc-1"
STATE, LOG, RESULT, TENSORBOARD = "state.json", "evaluations.jsonl", "result.json", "tb"
OBJECTIVE_PNG = "objective.png"


class Stopped(Exception):
    """Raised inside the driver when `stop_after` new evaluations were spent (tests, interrupted runs)."""


# --- objective ----------------------------------------------------------------------------------
def objective(val_acc: float, cost: float, c0: float, cost_weight: float) -> float:
    """f = (1 - best validation accuracy) + w_c * c / c_0 (paper eq. 1-2)."""
    return (1.0 - val_acc) + cost_weight * cost / c0


# --- the stages, on any evaluate callback (tests use cheap stand-ins) -----------------------------------
def arch_kernel(spec: ds.SpaceSpec, omega: float) -> DncKernel:
    if spec.kind == "cnn":
        return DncKernel([LayersTerm(0, 1, spec.layers[0], spec.layers[1], channel_powers(spec.layers[1]))], omega)
    return DncKernel([ScalarTerm(1, 0.5), ScalarTerm(0, 1.0)], omega)


def hyper_kernel(omega: float) -> DncKernel:
    return DncKernel([ScalarTerm(0), ScalarTerm(1), ScalarTerm(2)], omega)


def _sobol(dims: int, seed: int) -> Callable[[int], np.ndarray]:
    def draw(n: int) -> np.ndarray:
        return torch.quasirandom.SobolEngine(dims, scramble=True, seed=seed).draw(n).double().numpy()
    return draw


def stage1(spec: ds.SpaceSpec, s: DncSettings, evaluate: Callable[[list[ds.DncNet]], list[float]]):
    """BO over stage-1 networks; returns the (Candidate, f) history."""
    dims = ds.arch_dims(spec)

    def cand(u) -> Candidate:
        net = ds.net_from_unit(spec, u)
        return Candidate(net.key(), net, ds.arch_features(spec, net))

    sobol = _sobol(dims, s.seed)
    return bo_minimise(lambda rng, n: [cand(u) for u in rng.random((n, dims))], lambda n: [cand(u) for u in sobol(n)],
                       lambda cands: evaluate([c.value for c in cands]), arch_kernel(spec, s.omega),
                       s.initial_points, s.evaluations - s.initial_points, s.parallel, s.pool, s.seed, s.xi, s.noise,
                       s.strategy)


def stage3(spec: ds.SpaceSpec, s: DncSettings, evaluate: Callable[[list[ds.Hyper]], list[float]],
           incumbent: tuple[ds.Hyper, float] | None = None):
    """BO over (lr, weight decay, batch size) for the frozen architecture. `incumbent`: the presets' (hyper, f)
    from stage 2, a known point of this space (so stage 3 cannot end worse than stage 2)."""
    def candidate(hyper: ds.Hyper) -> Candidate:
        return Candidate(json.dumps(hyper.to_dict(), sort_keys=True), hyper, ds.hyper_features(spec, hyper))

    def cand(u) -> Candidate:
        return candidate(ds.hyper_from_unit(spec, u))

    known = [(candidate(incumbent[0]), incumbent[1])] if incumbent else []

    sobol = _sobol(3, s.seed + 1)
    return bo_minimise(lambda rng, n: [cand(u) for u in rng.random((n, 3))], lambda n: [cand(u) for u in sobol(n)],
                       lambda cands: evaluate([c.value for c in cands]), hyper_kernel(s.omega),
                       s.initial_points, s.evaluations - s.initial_points, s.parallel, s.pool, s.seed + 1, s.xi,
                       s.noise, s.strategy, known)


def grids(s: DncSettings, net: ds.DncNet) -> list[tuple[str, Callable[[ds.DncNet], list[ds.DncNet]]]]:
    """Stage 2's sub-stages in order: (name, best-so-far -> grid)."""
    if net.kind == "mlp":
        return [("dropout", lambda n: ds.grid_mlp_dropout(n, s.mlp_drop_probs))] if net.layers else []
    every = [e if e else float("inf") for e in s.shortcut_every]
    table = {"down": ds.grid_downsampling, "bn": lambda n: ds.grid_bn(n, s.bn_fractions),
             "dropout": lambda n: ds.grid_dropout(n, s.dropout_fractions, s.input_drop_probs, s.drop_probs),
             "shortcut": lambda n: ds.grid_shortcuts(n, every)}
    return [(name, table[name]) for name in s.grid_order]


def stage2(start: ds.DncNet, start_f: float, substages, evaluate: Callable[[list[ds.DncNet]], list[float]]):
    """Each grid is built around the best so far, evaluated, and its best frozen (only if it beats the
    incumbent). Returns (best net, best f, [(name, grid, fs, best net after it)])."""
    best, best_f, log = start, start_f, []
    for name, make in substages:
        grid = list(dict.fromkeys(make(best)))  # drop duplicate configurations, keep order
        fs = evaluate(grid)
        i = int(np.argmin(fs))
        if fs[i] < best_f:
            best, best_f = grid[i], fs[i]
        log.append((name, grid, fs, best))
    return best, best_f, log


# --- the driver --------------------------------------------------------------------------------------
class DncSearch:
    """One search in `out`; see the module docstring. `settings=None` with `resume=True` reuses the saved ones."""

    def __init__(self, settings: DncSettings | None, out: str | Path, *, resume: bool = False,
                 ray: RaySettings | None = None, transfer: str | Path | None = None,
                 progress: bool = True, stop_after: int | None = None, command: Sequence[str] | None = None,
                 overwrite: bool = False):
        self.out = Path(out)
        self.resume = resume
        self.overwrite = overwrite  # replace the DnC run in `out`, once every input was validated
        check_out(self.out, "dnc", resume, own_files=(STATE,), overwrite=overwrite)
        self.finished: dict | None = None  # the result of a run that has nothing left to do
        if resume:  # everything the resume reads, checked before anything is written
            settings, transfer, stage = self._read_state(settings)
            read_log(self.out / LOG, ("key", "fitness", "metrics", "stage", "net", "hyper", "mode"))
            result = read_result(self.out / RESULT, FORMAT)
            self.finished = result if stage == "done" else None  # "done" is saved after result.json
        if settings is None:
            raise UserError("no DnC settings given")
        self.s = settings.check()
        self.spec = self.s.space()
        self.transfer = str(transfer) if transfer else None
        self.source = _read_transfer(self.transfer, self.s.model) if self.transfer else None
        self.ray, self.progress = (ray or RaySettings()).check(), progress
        self.stop_after = stop_after
        self.command = list(command or sys.argv)
        self.data = {"name": self.s.data, "data_dir": self.s.data_dir, "limit": self.s.limit,
                     "val_fraction": self.s.val_fraction, "seed": self.s.seed}
        self.new_evaluations = 0
        self.history: dict[str, list[dict]] = {"1": [], "2": [], "3": []}

    def _read_state(self, settings: DncSettings | None) -> tuple[DncSettings, str | None, object]:
        """(settings, transfer, stage) of the run to resume; UserError (one line) on any damage."""
        from samplenas.population.dnc_settings import settings_from

        path = self.out / STATE
        if not path.exists():
            raise UserError(f"{path} not found: nothing to resume")
        state = load_state(path)
        if state.get("format") != FORMAT:
            raise UserError(f"{path} is not a DnC search state")
        if not isinstance(state.get("settings"), dict):
            raise UserError(f"{path}: 'settings' is not an object; the state file is damaged")
        try:
            saved = settings_from(state["settings"])
        except UserError as err:
            raise UserError(f"{path}: saved settings are damaged ({err})") from None
        transfer = state.get("transfer")
        if transfer is not None and not isinstance(transfer, str):
            raise UserError(f"{path}: 'transfer' is not a run folder name; the state file is damaged")
        if settings is not None and settings != saved:
            raise UserError(f"settings differ from the run in {self.out}; resume with the same settings")
        return saved, transfer, state.get("stage")

    # -- evaluation through the engine
    def _payload(self, net: ds.DncNet, hyper: ds.Hyper, mode: str = "train") -> dict:
        payload = {"net": net.to_dict(), "hyper": hyper.to_dict(), "data": self.data,
                   "epochs": self.s.epochs_per_candidate, "seed": self.s.seed, "mode": mode}
        if mode == "time":
            payload.update(epochs=1, reference_batches=self.s.reference_batches)
        return payload

    def _run_payloads(self, stage: str, payloads: list[dict]) -> list[dict]:
        keys = ["dnc-" + hashlib.sha1(json.dumps(p, sort_keys=True).encode()).hexdigest()[:24] for p in payloads]
        missing = {k: p for k, p in zip(keys, payloads) if self.cache.get(k) is None}
        if self.stop_after is not None and self.new_evaluations + len(missing) > self.stop_after:
            raise Stopped
        def to_record(result) -> dict:
            p = missing[result.key]
            return {**result.to_record(), "stage": stage, "net": p["net"], "hyper": p["hyper"], "mode": p["mode"]}

        jobs = [(k, {**p, "device": self.ray.device}) for k, p in missing.items()]  # the key ignores the device
        for result, record in stream(self.engine, jobs, self.log, to_record, self.monitor):
            self.cache.put(result.key, record)
            self.new_evaluations += 1
        return [self.cache.get(k) for k in keys]

    def _entry(self, stage: str, net: ds.DncNet, hyper: ds.Hyper, record: dict) -> dict:
        m = record["metrics"]
        cost = m["t_tr"] if self.s.penalty == "time" else m["params"]
        entry = {"arch": net.key(), "net": net.to_dict(), "hyper": hyper.to_dict(),
                 "f": objective(m["val_acc"], cost, self.c0["value"], self.s.cost_weight), "val_acc": m["val_acc"],
                 "test_acc": m["test_acc"], "t_tr": m["t_tr"], "params": m["params"], "node": record["node"],
                 "key": record["key"]}
        hist = self.history[stage]
        hist.append(entry)
        if record["key"] not in self.logged:  # a resumed run logs only what it trains anew
            self.logged.add(record["key"])
            step = sum(len(h) for h in self.history.values())
            names = ("f", "val_acc", "t_tr", "params")
            self.monitor.scalars(len(hist), {f"stage{stage}/{name}": entry[name] for name in names})
            self.monitor.scalars(step, {f"all/{name}": entry[name] for name in names})
        return entry

    def _evaluate(self, stage: str, pairs: list[tuple[ds.DncNet, ds.Hyper]]) -> list[dict]:
        records = self._run_payloads(stage, [self._payload(n, h) for n, h in pairs])
        entries = [self._entry(stage, n, h, r) for (n, h), r in zip(pairs, records)]
        self._save_state(stage)
        return entries

    def preset(self, net: ds.DncNet) -> ds.Hyper:
        """Stage 1-2 training presets: Adam at preset_lr, preset batch, the N_p weight-decay rule."""
        params = ds.count_params(ds.build_net(net, self.info.in_channels, self.info.image_size, self.info.num_classes))
        rule = tuple(self.s.wd_rule) if self.s.wd_rule else None
        wd = ds.preset_weight_decay(net.kind, params, rule)
        return ds.Hyper(self.s.preset_lr, float(f"{wd:.4g}"), self.s.preset_batch)

    def _reference_cost(self) -> dict:
        """c_0: the cost of the largest configuration (t_tr timed by a worker, or N_p)."""
        net = ds.largest_net(self.spec)
        hyper = self.preset(net)
        if self.s.penalty == "params":
            params = ds.count_params(ds.build_net(net, self.info.in_channels, self.info.image_size,
                                                  self.info.num_classes))
            return {"value": float(params), "unit": "parameters", "net": net.to_dict()}
        record = self._run_payloads("c0", [self._payload(net, hyper, mode="time")])[0]
        return {"value": record["metrics"]["t_tr"], "unit": "seconds per epoch", "net": net.to_dict(),
                "node": record["node"], "timed_batches": self.s.reference_batches}

    def _save_state(self, stage: str) -> None:
        save_state(self.out / STATE, {"format": FORMAT, "settings": self.s.to_dict(), "transfer": self.transfer,
                                      "stage": stage, "evaluations": {k: len(v) for k, v in self.history.items()},
                                      "command": self.command})

    # -- the search
    def run(self) -> dict | None:
        """Run (or resume) the search; returns the result (also OUT/result.json), or None when stopped by
        `stop_after` (continue with resume=True). A finished run resumed returns its result, read back,
        touching no file and starting no Ray (a rerun would replay every evaluation from the cache)."""
        if self.finished is not None:
            announce_finished(self.out, "DnC")
            return self.finished
        from samplenas.population.dnc_eval import data_tensors

        self.tensors = data_tensors(self.data)  # the data (and, in __init__, the cluster) checked before OUT is touched
        self.info = self.tensors[0]

        def recheck() -> None:  # again, under the lock
            check_out(self.out, "dnc", self.resume, own_files=(STATE,), overwrite=self.overwrite)
            if self.resume:
                read_log(self.out / LOG, ("key", "fitness", "metrics", "stage", "net", "hyper", "mode"))

        with session(self.out, (STATE, LOG), self.ray, recheck):  # a failure before any file leaves none
            return self._run()

    def _run(self) -> dict | None:
        if self.overwrite:
            remove_run(self.out, (STATE, LOG, RESULT, OBJECTIVE_PNG, RAY_LOG), (TENSORBOARD,))
        (self.out / RESULT).unlink(missing_ok=True)  # a result.json only ever describes a finished run
        self.log = ResultsLog(self.out / LOG)
        self.cache = EvaluationCache({r["key"]: r for r in self.log.records()})
        self.logged = set(self.log.keys())
        self._save_state("start")
        started = time.perf_counter()
        self.monitor = SearchMonitor(self.out / TENSORBOARD, self.progress)
        try:
            self.engine = self.ray.engine(_evaluate_candidate_task, self.tensors)  # the data: put once, by reference
            try:
                result = self._stages()
            except Stopped:
                return None
        finally:
            self.monitor.close()
        result["search_time_s"] = round(time.perf_counter() - started, 3)
        result["cache"] = {"hits": self.cache.hits, "misses": self.cache.misses,
                           "new_evaluations": self.new_evaluations}
        save_state(self.out / RESULT, result)
        self._save_state("done")
        from samplenas.population.dnc_plot import objective_plot

        objective_plot(result, self.out / OBJECTIVE_PNG)
        return result

    def _stages(self) -> dict:
        s = self.s
        self.monitor.label("DnC reference cost")
        self.c0 = self._reference_cost()
        stages: dict = {}
        if self.source is None:
            self.monitor.label("DnC stage 1")
            hist = stage1(self.spec, s, lambda nets: [e["f"] for e in
                                                      self._evaluate("1", [(n, self.preset(n)) for n in nets])])
            best1 = min(self.history["1"], key=lambda e: e["f"])
            stages["1"] = {"best": best1, "evaluations": len(hist), "strategy": s.strategy}
            net1 = ds.DncNet.from_dict(best1["net"])
            subs = grids(s, net1)
            self.monitor.label("DnC stage 2")
            net2, _, log = stage2(net1, best1["f"], subs, lambda nets: [
                e["f"] for e in self._evaluate("2", [(n, self.preset(n)) for n in nets])])
            best2 = next((e for e in reversed(self.history["2"]) if e["arch"] == net2.key()), best1)
            incumbent = [best2] if s.stage3_incumbent else []
            stages["2"] = {"best": best2, "evaluations": len(self.history["2"]),
                           "substages": [{"name": name, "grid_size": len(grid), "best_f": float(min(fs)),
                                          "frozen": best.to_dict()} for name, grid, fs, best in log]}
        else:
            stages["1"] = {**self.source["stages"]["1"], "transferred_from": self.transfer}
            stages["2"] = {**self.source["stages"]["2"], "transferred_from": self.transfer}
            net2 = ds.DncNet.from_dict(stages["2"]["best"]["net"])
            incumbent = []  # the presets were never trained on this data set
        self.monitor.label("DnC stage 3")
        stage3(self.spec, s, lambda hypers: [e["f"] for e in self._evaluate("3", [(net2, h) for h in hypers])],
               (ds.Hyper(**incumbent[0]["hyper"]), incumbent[0]["f"]) if incumbent else None)
        ranked = sorted(self.history["3"] + incumbent, key=lambda e: e["f"])
        stages["3"] = {"best": ranked[0], "evaluations": len(self.history["3"]), "strategy": s.strategy,
                       "incumbent_from_stage2": bool(incumbent)}
        best = ranked[0]
        return {
            "format": FORMAT, "space": "dnc", "model": s.model, "data": s.data, "penalty": s.penalty,
            "cost_weight": s.cost_weight, "c0": self.c0, "epochs": s.epochs_per_candidate, "stages": stages,
            "best": best, "top": ranked[:5], "history": self.history,
            "recipe": {"epochs": s.epochs_per_candidate, "batch_size": best["hyper"]["batch_size"], "optimizer": "adam",
                       "lr": best["hyper"]["lr"], "weight_decay": best["hyper"]["weight_decay"], "momentum": 0.0,
                       "schedule": "step", "augment": False},
            "settings": s.to_dict(), "transfer": self.transfer, "command": self.command,
            "note": "t_tr is measured on the worker that trained each configuration: it is platform-specific",
        }


def _evaluate_candidate_task(payload: dict, tensors: tuple) -> dict:
    """Module-level (picklable) entry for Ray; imports the training code inside the worker."""
    from samplenas.population.dnc_eval import evaluate_candidate

    return evaluate_candidate(payload, tensors)


def load_result(run: str | Path) -> dict:
    """A DnC result.json, given the file or its run folder; UserError when it is not one."""
    path = Path(run)
    path = path / RESULT if path.is_dir() else path
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(result, dict) or result.get("format") != FORMAT:
        raise UserError(f"{path} is not a DnC result.json")
    return result


def _read_transfer(run: str, model: str) -> dict:
    """The finished run whose stages 1-2 a transfer keeps; UserError (one line) unless it has them."""
    result = load_result(run)
    if result.get("model") != model:
        raise UserError(f"--transfer: {run} holds a {result.get('model')} search, not {model}")
    stages = result.get("stages")
    if not (isinstance(stages, dict) and all(isinstance(stages.get(k), dict) for k in ("1", "2"))
            and isinstance(stages["2"].get("best"), dict) and isinstance(stages["2"]["best"].get("net"), dict)):
        raise UserError(f"--transfer: {run} has no stages 1-2 with a best network (not a finished DnC result)")
    try:
        ds.DncNet.from_dict(stages["2"]["best"]["net"])
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"--transfer: {run}: the stage-2 network cannot be read ({err})") from None
    return result
