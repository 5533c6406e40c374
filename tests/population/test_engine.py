"""The population engine on the shared local Ray (`ray_local`): streaming, retries, time limits,
a worker SIGKILLed mid-task, the results log and the state file."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from samplenas.errors import UserError
from samplenas.population import engine as engine_module
from samplenas.population.engine import (
    Engine,
    EvaluationCache,
    EvaluationError,
    ResultsLog,
    load_state,
    ray_runtime,
    save_state,
)
from samplenas.population.synthetic import crash_task, fail_task, sleep_task


def test_results_stream_in_finishing_order(ray_local):
    Engine(sleep_task).run([("warm0", {"seconds": 0.5}), ("warm1", {"seconds": 0.5})])  # both workers up
    engine = Engine(sleep_task, max_in_flight=2)
    engine.submit("slow", {"seconds": 3.0, "fitness": 1.0})
    engine.submit("fast", {"seconds": 0.1, "fitness": 2.0})
    order = [r.key for r in engine.as_completed()]
    assert order == ["fast", "slow"]
    assert engine.done == 2 and engine.queued == 0 and engine.running == 0


def test_duplicate_keys_run_once_and_records_are_complete(ray_local):
    engine = Engine(sleep_task)
    assert engine.submit("a", {"fitness": 3.5})
    assert not engine.submit("a", {"fitness": 9.0})
    results = engine.run([("b", {"fitness": float("nan")})])
    assert sorted(results) == ["a", "b"]
    a = results["a"]
    assert a.fitness == 3.5 and a.attempts == 1 and a.pid > 0 and a.node and a.metrics == {"slept_s": 0.0}
    record = results["b"].to_record()
    assert record["fitness"] is None  # strict JSON: NaN becomes null
    json.dumps(record, allow_nan=False)


def test_an_evaluation_that_raises_fails_with_one_line_and_no_retry(ray_local, tmp_path):
    engine = Engine(fail_task, max_retries=3)
    engine.submit("bad", {"message": "no such layer"})
    with pytest.raises(EvaluationError, match="evaluation bad failed: ValueError: no such layer"):
        list(engine.as_completed())


def test_time_limit_cancels_retries_then_fails_clearly(ray_local, tmp_path):
    log = tmp_path / "started.txt"
    engine = Engine(sleep_task, max_retries=1, timeout_s=1.0)
    engine.submit("stuck", {"seconds": 60, "started_log": str(log), "name": "stuck"})
    started = time.monotonic()
    with pytest.raises(EvaluationError, match=r"stuck failed after 2 attempts; last: timed out after 1 s"):
        list(engine.as_completed())
    assert time.monotonic() - started < 20
    assert engine.timeouts == 2
    assert len(log.read_text().splitlines()) == 2  # it really ran twice (the first worker was cancelled)


def test_a_worker_that_always_dies_is_run_max_retries_plus_one_times_then_fails(ray_local, tmp_path):
    log = tmp_path / "started.txt"
    engine = Engine(crash_task, max_retries=1)
    engine.submit("doomed", {"started_log": str(log)})
    with pytest.raises(EvaluationError, match=r"doomed failed after 2 attempts; last: its worker or node died"):
        list(engine.as_completed())
    assert len(log.read_text().splitlines()) == 2  # Ray's retries only: no second layer multiplies them


def test_workers_killed_mid_task_are_retried_nothing_lost_or_duplicated(ray_local, tmp_path, kill_when_started):
    log = ResultsLog(tmp_path / "evaluations.jsonl")
    victims = [tmp_path / "pid_k0", tmp_path / "pid_k1"]
    engine = Engine(sleep_task, max_retries=3, max_in_flight=2)
    for i in range(4):
        # a victim's first attempt holds its worker until killed, however slow the killer is under load
        victim = {"pid_file": str(victims[i]), "first_attempt_seconds": 60.0} if i < 2 else {}
        engine.submit(f"k{i}", {"seconds": 1.0, "fitness": float(i), **victim})
    killed: list[int] = []
    killer = threading.Thread(target=lambda: killed.extend(kill_when_started(v) for v in victims))
    killer.start()
    results = []
    for result in engine.as_completed():
        assert log.append(result.to_record())
        results.append(result)
    killer.join()
    assert len(killed) == 2
    keys = [json.loads(line)["key"] for line in (tmp_path / "evaluations.jsonl").read_text().splitlines()]
    assert sorted(keys) == ["k0", "k1", "k2", "k3"]  # every evaluation once: none lost, none duplicated
    by_key = {r.key: r for r in results}
    assert {by_key["k0"].pid, by_key["k1"].pid}.isdisjoint(killed)  # the retries ran in other workers
    assert [by_key[f"k{i}"].fitness for i in range(4)] == [0.0, 1.0, 2.0, 3.0]
    assert not log.append(results[0].to_record())  # a second record for a key is refused


def test_a_killed_worker_is_said_in_one_line_and_rays_report_goes_to_the_runs_log(ray_local, tmp_path, capfd,
                                                                                   kill_when_started):
    log = tmp_path / "ray.log"
    victim = tmp_path / "pid_k0"
    killed: list[int] = []
    with ray_runtime(log=log):
        engine = Engine(sleep_task, max_retries=3, max_in_flight=2)
        engine.submit("k0", {"seconds": 1.0, "fitness": 0.0, "pid_file": str(victim), "first_attempt_seconds": 60.0})
        engine.submit("k1", {"seconds": 1.0, "fitness": 1.0})
        killer = threading.Thread(target=lambda: killed.append(kill_when_started(victim)))
        killer.start()
        results = {result.key: result for result in engine.as_completed()}
        killer.join()
        deadline = time.monotonic() + 60  # Ray's report reaches the driver on its own schedule
        while time.monotonic() < deadline and "will be retried" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.1)
    out, err = capfd.readouterr()
    assert len(killed) == 1 and results["k0"].pid not in killed and results["k0"].fitness == 0.0
    assert "raylet" not in out + err and "A worker died" not in out + err  # not on the terminal ...
    report = log.read_text()
    assert "(raylet) A worker died or was killed" in report and f"Worker PID: {killed[0]}" in report  # ... here
    ours = [line for line in err.splitlines() if line.strip()]
    assert ours == [f"samplenas: a Ray worker died during an evaluation; Ray runs it again, 3 retries left; "
                    f"Ray's report is in {log}"]


def test_in_flight_cap_follows_the_cluster_size(ray_local, monkeypatch):
    cpus = [1.0]
    monkeypatch.setattr(engine_module, "cluster_cpus", lambda: cpus[0])
    monkeypatch.setattr(engine_module, "POLL_S", 0.0)
    engine = Engine(sleep_task, num_cpus=1)
    assert engine.capacity() == 1
    cpus[0] = 3.0  # a node joined
    assert engine.capacity() == 3
    assert Engine(sleep_task, num_cpus=2).capacity() == 1


def test_results_log_drops_a_torn_line_and_dedups_on_reopen(tmp_path):
    path = tmp_path / "evaluations.jsonl"
    log = ResultsLog(path)
    assert log.append({"key": "a", "fitness": 1.0})
    with open(path, "a") as f:
        f.write('{"key": "b", "fitn')  # the driver was killed mid-write
    reopened = ResultsLog(path)
    assert reopened.keys() == {"a"} and len(reopened) == 1
    assert path.read_text().endswith("\n")
    assert not reopened.append({"key": "a", "fitness": 5.0})
    assert reopened.append({"key": "b", "fitness": float("inf")})
    assert [json.loads(x)["fitness"] for x in path.read_text().splitlines()] == [1.0, None]


def test_cache_counts_hits_and_round_trips():
    cache = EvaluationCache()
    assert cache.get("x") is None
    cache.put("x", {"fitness": 2.0})
    assert cache.get("x") == {"fitness": 2.0} and "x" in cache
    again = EvaluationCache.from_json(json.loads(json.dumps(cache.to_json())))
    assert (again.hits, again.misses, again.hit_fraction, len(again)) == (1, 1, 0.5, 1)


def test_state_is_written_atomically_and_strictly(tmp_path):
    path = tmp_path / "state.json"
    save_state(path, {"generation": 2, "best": float("nan")})
    assert load_state(path) == {"generation": 2, "best": None}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left behind
    path.write_text("{broken")
    with pytest.raises(UserError, match="not a valid state file"):
        load_state(path)
    with pytest.raises(UserError, match="nothing to resume"):
        load_state(tmp_path / "missing.json")


def test_runtime_reuses_an_initialised_ray_and_rejects_bad_addresses(ray_local):
    with ray_runtime(workers=1) as info:
        assert not info.owned and info.cpus == 2
    assert ray_local.is_initialized()  # not shut down: it was not ours
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match=f"cannot reach Ray cluster at 127.0.0.1:{port}"):
        with ray_runtime(address=f"127.0.0.1:{port}"):
            pass
    with pytest.raises(UserError, match="not 'auto' or HOST:PORT"):
        with ray_runtime(address="nowhere"):
            pass
    with pytest.raises(UserError, match="--workers must be at least 1"):
        with ray_runtime(workers=0):
            pass
