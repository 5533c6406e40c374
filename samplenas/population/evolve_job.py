"""`samplenas evolve` as a library call: validate everything, run the evolutionary search (or the
random baseline) on the population engine, retrain the best, write what a person looks at.

OUT/ holds: evaluations.jsonl (every finished evaluation as it arrives), state.json (the driver's
checkpoint after each generation), tensorboard/, fitness.png (Fig. 5), denoised.png (Fig. 6, for
autoencoders) and result.json (written last; its "top" list is what `samplenas retrain --from` reads).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samplenas.errors import InvalidArchitecture, UserError
from samplenas.population.candidate import (
    CandidateSettings,
    check_network,
    decode_images,
    evaluate_candidate,
    payload,
)
from samplenas.population.driver import RaySettings, session
from samplenas.population.engine import (
    Engine,
    ResultsLog,
    cluster_cpus,
    load_state,
    save_state,
    strict_json,
)
from samplenas.population.evolve import (
    EVALUATIONS,
    RECORDS_FORMAT,
    STATE,
    STATE_FORMAT,
    Evaluator,
    SearchState,
    initial_population,
    random_samples,
    ranked,
    run_evolution,
    saved_keys,
)
from samplenas.population.figures import plot_fitness, plot_images
from samplenas.population.monitor import SearchMonitor
from samplenas.population.rundir import (
    RAY_LOG,
    announce_finished,
    check_generator_state,
    check_out,
    read_log,
    read_result,
)
from samplenas.samplers.budget import Budget
from samplenas.spaces.base import Arch, SearchSpace
from samplenas.training.data import LoadedData
from samplenas.training.rundir import remove_run
from samplenas.training.typed_config import MAX_SEED, bounded, check_fields

RESULT = "result.json"
RESULT_FORMAT = "samplenas-evolve-result-1"
FITNESS_PNG, IMAGES_PNG, TENSORBOARD = "fitness.png", "denoised.png", "tensorboard"
RUN_FILES = (STATE, EVALUATIONS, RESULT, FITNESS_PNG, IMAGES_PNG, RAY_LOG)  # what --overwrite removes
RUN_FOLDERS = (TENSORBOARD,)
RECONSTRUCTION_TASKS = ("reconstruction", "denoising")
IMAGES = 8  # test images in the Fig. 6 grid
FINAL_PREFIX = "final:"


@dataclass
class EvolveJob:
    space: str
    data: str
    out: Path
    task: str | None = None  # default: denoising for the autoencoder space, classification otherwise
    data_dir: str | None = None
    seed: int = bounded(0, ge=0, le=MAX_SEED)
    population: int = bounded(10, ge=2)
    generations: int = bounded(20, ge=1)
    epochs_per_candidate: int = bounded(2, ge=1)
    final_epochs: int = bounded(20, ge=0)
    top: int = bounded(3, ge=1)
    reductions: int | None = bounded(None, ge=0)  # autoencoder: reduction modules (paper's manifold learning: 2, 3)
    max_layers: int | None = bounded(None, ge=1)  # autoencoder: layers per module (paper: 10)
    network: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)  # recipe field overrides (batch_size, lr, ...)
    limit: int | None = bounded(None, ge=1)
    val_fraction: float = bounded(0.1, gt=0, lt=1)
    ray: RaySettings = field(default_factory=RaySettings)
    baseline: str | None = None  # "random"
    samples: int = bounded(30, ge=1)
    max_params: int | None = bounded(None, ge=1)  # budget: every candidate within it (mutations redrawn until admitted)
    max_macs: int | None = bounded(None, ge=1)
    max_latency_ms: float | None = bounded(None, gt=0)
    latency_table: str | None = None
    resume: bool = False
    overwrite: bool = False  # replace the evolve run already in `out` (once every input was validated)
    progress: bool = True
    command: list[str] = field(default_factory=lambda: list(sys.argv))


@dataclass
class Prepared:
    job: EvolveJob
    space: SearchSpace
    settings: CandidateSettings
    config: dict  # what a resumed run must share with the run it continues
    data: LoadedData  # the splits, loaded once here and shared with every task through the object store
    state: SearchState | None = None  # the checked state an evolution resumes from
    budget: Budget | None = None


# --- validation (nothing is written) ------------------------------------------------------------------
def prepare(job: EvolveJob) -> Prepared:
    """Check every setting and the data, build the space with the run's settings; raise UserError
    (one line) on the first problem. Writes nothing."""
    from samplenas.spaces import SPACES
    from samplenas.supernet.factory import make_supernet, network_settings
    from samplenas.training.budgets import supernet_budget
    from samplenas.training.fit import load_data
    from samplenas.training.recipes import resolve_recipe

    SPACES[job.space]  # unknown space -> one line listing the valid ones
    task = job.task or ("denoising" if job.space == "autoencoder" else "classification")
    fits = RECONSTRUCTION_TASKS if job.space == "autoencoder" else ("classification",)
    if task not in fits:
        raise UserError(f"task {task!r} does not fit the {job.space} space; valid: {', '.join(fits)}")
    _check_numbers(job)
    network = check_network(job.space, dict(job.network))
    for name, value in (("num_reductions", job.reductions), ("max_layers", job.max_layers)):
        if value is not None:
            if job.space != "autoencoder":
                raise UserError(f"--{name.replace('num_', '').replace('_', '-')} applies to the autoencoder space only")
            network[name] = value
    network = check_network(job.space, network, "--network with --reductions/--max-layers")
    recipe = resolve_recipe(job.space, job.recipe, {"task": task, "epochs": job.epochs_per_candidate,
                                                    "network": network})
    settings = CandidateSettings(job.space, job.data, recipe.to_dict(), job.data_dir, job.seed, job.limit,
                                 job.val_fraction, job.ray.device)
    meta = {"data": job.data, "data_dir": job.data_dir, "val_fraction": job.val_fraction, "seed": job.seed,
            "limit": job.limit, "recipe": recipe.to_dict()}
    data = load_data(meta, ("train", "val", "test"))
    if len(data.train) < recipe.batch_size:
        raise UserError(f"batch size {recipe.batch_size} exceeds the {len(data.train)} training examples")
    supernet = make_supernet(job.space, network_settings(job.space, recipe.network, data.info))
    space = supernet.space
    budget = supernet_budget(supernet, job.max_params, job.max_macs, job.max_latency_ms, job.latency_table)
    if job.baseline is not None and job.baseline != "random":
        raise UserError(f"unknown baseline {job.baseline!r}; valid: random")
    if job.baseline == "random":
        random_samples(space, job.samples, np.random.default_rng(0), budget)  # more samples than the space holds?
    config = {"space": job.space, "task": task, "data": job.data, "seed": job.seed, "population": job.population,
              "generations": job.generations, "epochs_per_candidate": job.epochs_per_candidate,
              "recipe": recipe.to_dict(), "limit": job.limit, "val_fraction": job.val_fraction,
              "baseline": job.baseline, "samples": job.samples if job.baseline else None,
              "final_epochs": job.final_epochs if job.baseline else None}
    if budget is not None:  # a run without one keeps the config (and so the resume check) it always had
        config["budget"] = dict(budget.limits)
    state = _check_out(job, config, space)
    return Prepared(job, space, settings, config, data, state, budget)


def _check_numbers(job: EvolveJob) -> None:
    check_fields(job, flags=True)
    job.ray.check()


def _check_out(job: EvolveJob, config: dict, space: SearchSpace) -> SearchState | None:
    """--out can take this run; with --resume, every file the resume reads (state.json,
    evaluations.jsonl, result.json) is read and checked completely here, before anything is changed.
    Returns the saved state of an evolution to continue (None otherwise)."""
    out = Path(job.out)
    check_out(out, "evolve", job.resume, own_files=(STATE,), overwrite=job.overwrite)
    if not job.resume:
        return None
    state = out / STATE
    if not state.exists():
        raise UserError(f"{state} not found: nothing to resume")
    saved = load_state(state)
    if saved.get("format") not in (STATE_FORMAT, RECORDS_FORMAT):
        raise UserError(f"{state} is not a samplenas evolve state file")
    if not isinstance(saved.get("config"), dict):
        raise UserError(f"{state}: 'config' is not an object; the state file is damaged")
    differing = [k for k in config if saved["config"].get(k) != config[k]]
    if differing:
        raise UserError(f"cannot resume {out}: it was started with a different {differing[0]} "
                        f"({saved['config'].get(differing[0])!r} != {config[differing[0]]!r})")
    logged, _ = read_log(out / EVALUATIONS, LOG_FIELDS)
    read_result(out / RESULT, RESULT_FORMAT)
    if job.baseline is not None:
        return None
    return _read_search_state(state, saved, {r["key"]: r for r in logged}, space, job)


LOG_FIELDS = ("key", "fitness", "metrics", "arch_ints")
HISTORY_FIELDS = {"generation": int, "best": (int, float), "mean": (int, float), "proposed": int,
                  "cache_hits": int, "trained": int, "wall_s": (int, float)}


def _read_search_state(path: Path, saved: dict, logged: dict[str, dict], space: SearchSpace,
                       job: EvolveJob) -> SearchState:
    """`SearchState.from_json` with every field checked first (one line naming the field), and every
    key the state names found in the log (`logged`: key -> record) with that key's genotype."""
    log = path.parent / EVALUATIONS

    def damaged(what: str, where: Path = path) -> UserError:
        return UserError(f"{where}: {what}; the {'log' if where == log else 'state file'} is damaged (restore it, "
                         "or start again in another --out)")

    def is_int(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def arch(value, what: str, where: Path = path):
        if not isinstance(value, list) or not all(is_int(v) for v in value):
            raise damaged(f"{what} is not a list of integers", where)
        try:
            return space.validate(value)
        except (InvalidArchitecture, ValueError, TypeError, IndexError) as err:
            raise damaged(f"{what} is not an architecture of the space ({str(err).splitlines()[0]})", where) from None

    cache = ("records", dict) if saved["format"] == RECORDS_FORMAT else ("keys", list)
    for name, kind in (("generation", int), ("population", list), ("rng", dict), cache, ("history", list)):
        if name not in saved:
            raise damaged(f"no {name!r}")
        if not isinstance(saved[name], kind) or (kind is int and not is_int(saved[name])):
            raise damaged(f"{name!r} is not {'an integer' if kind is int else 'a ' + kind.__name__}")
    if not 0 <= saved["generation"] <= job.generations:
        raise damaged(f"generation {saved['generation']} is outside 0..{job.generations}")
    if len(saved["population"]) != job.population:
        raise damaged(f"the population holds {len(saved['population'])} genotypes, not {job.population}")
    for i, genotype in enumerate(saved["population"]):
        arch(genotype, f"population[{i}]")
    check_generator_state(saved["rng"], damaged)
    keys = saved_keys(saved)
    if not all(isinstance(key, str) for key in keys):
        raise damaged("'keys' is not a list of strings")
    if len(set(keys)) != len(keys):
        raise damaged("'keys' names a record twice")
    for key in keys:
        if key not in logged:
            raise UserError(f"cannot resume: {path} names the evaluation {key!r}, which {log} does not hold "
                            "(restore the log, or start again in another --out)")
        if space.key(arch(logged[key]["arch_ints"], f"the record of {key!r}", log)) != key:
            raise damaged(f"the record of {key!r} holds another genotype", log)
    if saved["generation"] > 0 and not {space.key(space.validate(a)) for a in saved["population"]} <= set(keys):
        raise damaged("a member of the population has no record")
    for i, entry in enumerate(saved["history"]):
        if not isinstance(entry, dict) or any(
                not isinstance(entry.get(name), kind) or isinstance(entry.get(name), bool)
                for name, kind in HISTORY_FIELDS.items()):
            raise damaged(f"history[{i}] is not a generation's statistics")
    return SearchState.from_json(saved, space, logged)


# --- progress: the search's monitor, labelled by generation -----------------------------------------
class Progress:
    """Evolution's view on the run's `SearchMonitor`: the bar's label (generation) and summary (cache
    hits, workers alive), and each generation's statistics in TensorBoard."""

    def __init__(self, out: Path, enabled: bool, generations: int, first_generation: int = 0):
        self.monitor = SearchMonitor(out / TENSORBOARD, enabled, resume_step=first_generation or None)
        self.generations = generations
        self.hits = 0
        self.start(first_generation)

    def start(self, generation: int) -> None:
        """Generation `generation` begins (the monitor counts its submissions itself)."""
        self.monitor.label(f"gen {generation + 1}/{self.generations}")
        self._status()

    def _status(self) -> None:
        self.monitor.status(f"cache hits {self.hits} workers {int(cluster_cpus())}")

    def generation_done(self, stats, state) -> None:
        self.hits += stats.cache_hits
        self.monitor.scalars(stats.generation, {
            "fitness/best": stats.best, "fitness/mean": stats.mean, "evaluations/per_s": stats.evals_per_s,
            "evaluations/trained": stats.trained, "cache/hits": stats.cache_hits, "cache/proposed": stats.proposed})
        self._status()

    def close(self) -> None:
        self.monitor.close()


# --- running ------------------------------------------------------------------------------------------
def run_evolve(job: EvolveJob) -> dict:
    """Validate, then search (or sample the random baseline), retrain the best, write OUT/. Returns
    the result (also in OUT/result.json)."""
    prepared = prepare(job)  # every input and every file a resume reads, checked: nothing written yet
    done = _finished(job)
    if done is not None:
        return done
    out = Path(job.out)

    def recheck() -> None:  # the resume files, again under the lock
        prepared.state = _check_out(job, prepared.config, prepared.space)

    with session(out, (STATE,), job.ray, recheck) as runtime:  # a failure before state.json leaves nothing
        return _run(job, prepared, runtime, out)


def _run(job: EvolveJob, prepared: Prepared, runtime, out: Path) -> dict:
    """The search itself, in the locked run folder (nothing failed validation)."""
    if job.overwrite:
        remove_run(out, RUN_FILES, RUN_FOLDERS)
    (out / RESULT).unlink(missing_ok=True)  # a result.json only ever describes a finished run
    engine = job.ray.engine(evaluate_candidate, prepared.data)
    log = ResultsLog(out / EVALUATIONS)
    started = time.perf_counter()
    if job.baseline == "random":
        result = _random_baseline(prepared, engine, log)
    else:
        result = _evolution(prepared, engine, log)
    wall = time.perf_counter() - started
    trained = len(log)
    result.update(evaluations={"logged": trained, "wall_s": round(wall, 3),
                               "per_minute": round(60.0 * trained / wall, 3) if wall > 0 else None},
                  workers=runtime.cpus, address=runtime.address if not runtime.owned else "local",
                  command=job.command)
    save_state(out / RESULT, result)
    save_state(out / STATE, {**load_state(out / STATE), "finished": True})  # after the result, as pbt's last round
    return strict_json(result)


def _finished(job: EvolveJob) -> dict | None:
    """A resumed run marked finished (the mark is saved after result.json) has nothing left to do: its
    result, read back, touching no file and starting no Ray (a rerun would replay every evaluation from
    the cache and rewrite result.json). None otherwise; a run killed before the mark finishes now."""
    out = Path(job.out)
    if not job.resume or load_state(out / STATE).get("finished") is not True:
        return None
    result = read_result(out / RESULT, RESULT_FORMAT)
    if result is not None:
        announce_finished(out, "evolve")
    return result


def _base_result(prepared: Prepared, mode: str) -> dict:
    s = prepared.settings
    return {"format": RESULT_FORMAT, "mode": mode, "space": s.space, "task": s.recipe["task"], "data": s.data,
            "data_dir": s.data_dir, "seed": s.seed, "network": s.recipe["network"], "recipe": s.recipe,
            "limit": s.limit}


def _evolution(prepared: Prepared, engine: Engine, log: ResultsLog) -> dict:
    job, space, settings = prepared.job, prepared.space, prepared.settings
    out = Path(job.out)
    state = prepared.state
    if state is None:  # checkpoint the initial population at once: a run killed in generation 0 resumes
        rng = np.random.default_rng(job.seed)
        state = SearchState(0, initial_population(space, job.population, rng, prepared.budget),
                            dict(rng.bit_generator.state), {})
        save_state(out / STATE, state.to_json(prepared.config))
    progress = Progress(out, job.progress, job.generations, state.generation if state else 0)
    evaluator = Evaluator(engine, space, lambda arch: payload(settings, space.to_str(arch)), log, progress.monitor)
    try:
        state = run_evolution(
            space, evaluator, population=job.population, generations=job.generations,
            rng=np.random.default_rng(job.seed), state=state,
            checkpoint=lambda st: save_state(out / STATE, st.to_json(prepared.config)),
            on_generation=progress.generation_done, on_start=progress.start, budget=prepared.budget)
        best = ranked(state.records, space, job.top)
        finals = _final_training(prepared, engine, log, best, progress)
    finally:
        progress.close()
    history = [{**vars(h), "evals_per_s": h.evals_per_s} for h in state.history]
    plot_fitness(history, out / FITNESS_PNG, f"{settings.recipe['task']} on {settings.data}")
    proposed = sum(h.proposed for h in state.history)
    hits = sum(h.cache_hits for h in state.history)
    top = []
    for arch in best:
        record = state.records[space.key(arch)]
        top.append({"arch": space.to_str(arch), "arch_ints": list(arch), "search_fitness": record["fitness"],
                    "params": record["metrics"].get("params"), "final": _final_summary(finals.get(space.key(arch)))})
    if finals:  # rank by the fitness after final training, as the paper's tables do
        top.sort(key=lambda e: -(e["final"]["fitness"] if e["final"] and e["final"]["fitness"] is not None
                                 else -math.inf))
    _write_image_grid(out, [finals[space.key(a)] for a in best if space.key(a) in finals], settings.recipe["task"])
    result = _base_result(prepared, "evolution")
    result.update(top=[{"rank": i + 1, **e} for i, e in enumerate(top)],
                  population=[space.to_str(a) for a in state.population], history=history,
                  cache={"proposed": proposed, "hits": hits, "hit_fraction": hits / proposed if proposed else 0.0,
                         "distinct_evaluated": len(state.records)},
                  final_epochs=job.final_epochs)
    return result


def _final_training(prepared: Prepared, engine: Engine, log: ResultsLog, best: list[Arch],
                    progress: Progress | None) -> dict[str, dict]:
    job, space, settings = prepared.job, prepared.space, prepared.settings
    if job.final_epochs == 0 or not best:
        return {}
    images = IMAGES if settings.recipe["task"] != "classification" else 0
    final = Evaluator(engine, space, lambda arch: payload(settings, space.to_str(arch), epochs=job.final_epochs,
                                                           test=True, images=images),
                      log, progress.monitor if progress else None, prefix=FINAL_PREFIX)
    if progress is not None:
        progress.monitor.label("final training")
    return final.evaluate(best, {}, {"stage": "final", "epochs": job.final_epochs})


def _final_summary(record: dict | None) -> dict | None:
    if record is None:
        return None
    metrics = record["metrics"]
    test = metrics.get("test", {})
    return {"fitness": record["fitness"], "epochs": metrics.get("epochs"), "val": metrics.get("val"),
            "test": {k: v for k, v in test.items()}, "test_fitness": test.get("fitness")}


def _write_image_grid(out: Path, finals: list[dict], task: str) -> None:
    """Fig. 6 from the finally trained genotype with the best test fitness."""
    with_images = [r for r in finals if r["metrics"].get("images")]
    if not with_images:
        return
    best = max(with_images, key=lambda r: r["metrics"].get("test", {}).get("fitness") or -math.inf)
    labels = ("clean", "noisy", "denoised") if task == "denoising" else ("clean", "input", "reconstructed")
    plot_images(decode_images(best["metrics"]["images"]), out / IMAGES_PNG, labels)


def _random_baseline(prepared: Prepared, engine: Engine, log: ResultsLog) -> dict:
    """The paper's baseline: `samples` random architectures trained like the final ones (for
    `--final-epochs`, or `--epochs-per-candidate` when that is 0), through the same engine."""
    job, space, settings = prepared.job, prepared.space, prepared.settings
    out = Path(job.out)
    archs = random_samples(space, job.samples, np.random.default_rng(job.seed), prepared.budget)
    epochs = job.final_epochs or job.epochs_per_candidate
    images = IMAGES if settings.recipe["task"] != "classification" else 0
    save_state(out / STATE, {"format": STATE_FORMAT, "config": prepared.config, "generation": 0, "history": [],
                             "population": [], "rng": {}, "keys": []})  # lets --resume find the run
    progress = Progress(out, job.progress, 1)
    progress.monitor.label("random samples")
    try:
        evaluator = Evaluator(engine, space, lambda arch: payload(settings, space.to_str(arch), epochs=epochs,
                                                                   test=True, images=images),
                              log, progress.monitor)
        records = evaluator.evaluate(archs, {}, {"stage": "random", "epochs": epochs})
    finally:
        progress.close()
    def test_fitness(arch: Arch) -> float | None:  # None for a candidate whose training diverged
        return (records[space.key(arch)]["metrics"].get("test") or {}).get("fitness")

    test = [test_fitness(a) for a in archs]
    val = [records[space.key(a)]["fitness"] for a in archs]
    order = sorted(archs, key=lambda a: -(test_fitness(a) if test_fitness(a) is not None else -math.inf))
    result = _base_result(prepared, "random")
    result.update(
        top=[{"rank": i + 1, "arch": space.to_str(a), "arch_ints": list(a),
              "final": _final_summary(records[space.key(a)])} for i, a in enumerate(order[:job.top])],
        random={"samples": len(archs), "epochs": epochs, **_mean_std("test_fitness", test),
                **_mean_std("fitness", val)},
        final_epochs=epochs)
    _write_image_grid(out, [records[space.key(order[0])]], settings.recipe["task"])
    return result


def _mean_std(name: str, values: list) -> dict:
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return {f"{name}_mean": float(np.mean(finite)) if finite else None,
            f"{name}_std": float(np.std(finite)) if finite else None}
