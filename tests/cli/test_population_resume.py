"""Issue 25: a `--resume` of `evolve`, `pbt` or `dnc` reads state, evaluations.jsonl and result.json
completely before it changes anything. Each damaged run below is refused in one line with every file
as it was (result.json included); a valid one reaches the Ray start (stubbed: no training)."""

from __future__ import annotations

import json

import pytest

STATE = {"evolve": "state.json", "pbt": "pbt_state.json", "dnc": "state.json"}


@pytest.fixture
def resume(population_argv):
    """resume(kind, out) -> the argv of `--resume` of the small run of `kind` in `out`."""
    return lambda kind, out: [*population_argv[kind], "--out", str(out), "--resume"]


def edited(files: dict, name: str, change) -> dict:
    value = json.loads(files[name])
    change(value)
    return {**files, name: json.dumps(value).encode()}


def _mt_state() -> dict:
    import numpy as np

    state = np.random.Generator(np.random.MT19937(0)).bit_generator.state
    state["state"]["key"] = state["state"]["key"].tolist()  # as JSON holds it
    return state


DAMAGE = {
    "evolve": [
        (lambda s: s.pop("population"), "no 'population'"),
        (lambda s: s.update(keys="x"), "'keys' is not a list"),
        (lambda s: s.update(keys=[1]), "'keys' is not a list of strings"),
        (lambda s: s["keys"].append(s["keys"][0]), "names a record twice"),
        (lambda s: s["keys"].pop(), "a member of the population has no record"),
        (lambda s: s.update(generation="2"), "'generation' is not an integer"),
        (lambda s: s.update(generation=7), "outside 0..2"),
        (lambda s: s.update(rng=_mt_state()), "'rng' is not a PCG64 state"),
        (lambda s: s.update(population=[[99, 99, 99]] * 3), "not an architecture"),
        (lambda s: s["population"].pop(), "holds 2 genotypes"),
        (lambda s: s.update(history=[{"generation": "x"}]), "history[0]"),
        (lambda s: s.update(config=[]), "'config' is not an object"),
        (lambda s: s["config"].update(seed=4), "different seed"),
        (lambda s: s.update(format="samplenas-evolve-0"), "not a samplenas evolve state file"),
    ],
    "pbt": [
        (lambda s: s.pop("members"), "no 'members'"),
        (lambda s: s.update(members={"0": {}}), "'members' is not a list"),
        (lambda s: s.update(round="0"), "'round' is not a number"),
        (lambda s: s.update(rng=_mt_state()), "'rng' is not a PCG64 state"),
        (lambda s: s.update(history=[[]], round=1), "history[0]"),
        (lambda s: s["members"][1].update(arch="x"), "members[1]: 'arch'"),
        (lambda s: s["members"][2].update(slot=0), "members[2] is not the member of slot 2"),
        (lambda s: s["members"][0].update(start="members/missing.pt"), "is missing"),
        (lambda s: s["fingerprint"].update(settings={"colour": 1}), "different settings"),
        (lambda s: s.pop("fingerprint"), "no 'fingerprint'"),
    ],
    "dnc": [
        (lambda s: s.pop("settings"), "'settings' is not an object"),
        (lambda s: s.update(settings=[1, 2]), "'settings' is not an object"),
        (lambda s: s["settings"].update(colour=1), "unknown setting(s) colour"),
        (lambda s: s["settings"].update(epochs="3"), "epochs must be an integer"),
        (lambda s: s["settings"].update(layers={"0": 1}), "layers must be a list"),
        (lambda s: s.update(transfer=5), "'transfer'"),
        (lambda s: s.update(format="x"), "not a DnC search state"),
    ],
}


@pytest.mark.parametrize("kind, case", [(k, i) for k, cases in DAMAGE.items() for i in range(len(cases))])
def test_damaged_state_is_refused_and_nothing_changes(kind, case, tmp_path, population_files, write_run,
                                                      stop_population_at_ray, refused, resume):
    change, message = DAMAGE[kind][case]
    out = write_run(tmp_path / "run", edited(population_files(kind), STATE[kind], change))
    refused(resume(kind, out), tmp_path, message)


def test_an_evolve_state_naming_an_evaluation_the_log_lacks_is_refused(tmp_path, population_files, write_run,
                                                                       stop_population_at_ray, refused, resume):
    """The records of state.json are lines of evaluations.jsonl: a log without one is named, in one line."""
    files = population_files("evolve")
    lines = files["evaluations.jsonl"].splitlines(keepends=True)
    lost = json.loads(lines[-1])["key"]
    out = write_run(tmp_path / "run", {**files, "evaluations.jsonl": b"".join(lines[:-1])})
    err = refused(resume("evolve", out), tmp_path, f"names the evaluation {lost!r}")
    assert "evaluations.jsonl does not hold" in err


def test_an_evolve_log_record_of_another_genotype_is_refused(tmp_path, population_files, write_run,
                                                             stop_population_at_ray, refused, resume):
    files = population_files("evolve")
    lines = [json.loads(line) for line in files["evaluations.jsonl"].splitlines()]
    lines[0]["arch_ints"] = lines[1]["arch_ints"]
    log = "".join(json.dumps(line) + "\n" for line in lines).encode()
    out = write_run(tmp_path / "run", {**files, "evaluations.jsonl": log})
    err = refused(resume("evolve", out), tmp_path, "holds another genotype")
    assert "evaluations.jsonl" in err and "the log is damaged" in err


def test_an_evolve_state_of_the_older_format_still_resumes(tmp_path, population_files, write_run,
                                                           stop_population_at_ray, refused, resume):
    """samplenas-evolve-1 kept the records themselves in state.json; their keys name the log's records."""
    files = population_files("evolve")
    records = {r["key"]: r for r in map(json.loads, files["evaluations.jsonl"].splitlines())}
    old = edited(files, "state.json", lambda s: s.update(format="samplenas-evolve-1", records=records))
    old = edited(old, "state.json", lambda s: s.pop("keys"))
    refused(resume("evolve", write_run(tmp_path / "old", old)), tmp_path, "validated")
    lost = edited(old, "state.json", lambda s: s["records"].update(nowhere=s["records"][next(iter(records))]))
    refused(resume("evolve", write_run(tmp_path / "lost", lost)), tmp_path, "names the evaluation 'nowhere'")


@pytest.mark.parametrize("kind", ["evolve", "pbt", "dnc"])
def test_a_valid_run_reaches_the_ray_start_unchanged(kind, tmp_path, population_files, write_run,
                                                     stop_population_at_ray, refused, resume):
    out = write_run(tmp_path / "run", population_files(kind))
    refused(resume(kind, out), tmp_path, "validated")


@pytest.mark.parametrize("kind", ["evolve", "pbt", "dnc"])
@pytest.mark.parametrize("bad, message", [
    (b"garbage\n", "line 2: not a JSON line"),
    (b"[1, 2]\n", "line 2: not a JSON object"),
    (b'{"fitness": 1, "metrics": {}}\n', "line 2: no 'key'"),
    (b'{"key": "z", "fitness": "high", "metrics": {}}\n', "line 2: "),
])
def test_a_damaged_middle_line_of_the_log_is_named_not_cut(kind, bad, message, tmp_path, population_files,
                                                            write_run, stop_population_at_ray, refused, resume):
    files = population_files(kind)
    lines = files["evaluations.jsonl"].splitlines(keepends=True)
    files["evaluations.jsonl"] = lines[0] + bad + b"".join(lines[1:])
    out = write_run(tmp_path / "run", files)
    err = refused(resume(kind, out), tmp_path, message)
    assert "evaluations.jsonl" in err


@pytest.mark.parametrize("kind", ["evolve", "pbt", "dnc"])
def test_a_torn_last_line_is_no_error(kind, tmp_path, population_files, write_run, stop_population_at_ray,
                                      refused, resume):
    files = population_files(kind)
    files["evaluations.jsonl"] += b'{"key": "torn", "fitn'
    out = write_run(tmp_path / "run", files)
    refused(resume(kind, out), tmp_path, "validated")


@pytest.mark.parametrize("kind", ["evolve", "pbt", "dnc"])
@pytest.mark.parametrize("result", [b"{", b"[]", b'{"format": "samplenas-retrain-1"}'])
def test_a_result_edited_by_hand_is_refused(kind, result, tmp_path, population_files, write_run,
                                            stop_population_at_ray, refused, resume):
    out = write_run(tmp_path / "run", {**population_files(kind), "result.json": result})
    refused(resume(kind, out), tmp_path, "result.json")


def test_dnc_transfer_source_without_stages(tmp_path, refused):
    source = tmp_path / "source"
    source.mkdir()
    (source / "result.json").write_text(json.dumps({"format": "samplenas-dnc-1", "model": "mlp"}))
    refused(["dnc", "--model", "mlp", "--out", tmp_path / "run", "--transfer", source, "--quiet"], tmp_path,
            "no stages 1-2")


def test_a_moved_pbt_run_still_finds_its_members(tmp_path, population_files, write_run, stop_population_at_ray,
                                                 refused, resume):
    """Member files are stored relative to OUT: a run written elsewhere (old absolute paths
    included) resumes from its own folder."""
    files = edited(population_files("pbt"), "pbt_state.json",
                   lambda s: [m.update(start=f"/elsewhere/{m['start']}") for m in s["members"]])
    out = write_run(tmp_path / "moved", files)
    refused(resume("pbt", out), tmp_path, "validated")


def test_pbt_supernet_cache_takes_list_valued_settings():
    from samplenas.population.pbt_member import job_supernet

    settings = {"stage_channels": [24, 48, 96, 192], "num_classes": 10, "in_channels": 1, "image_size": 8}
    assert job_supernet({"space": "shufflenet", "settings": settings}) is \
        job_supernet({"space": "shufflenet", "settings": dict(settings)})
