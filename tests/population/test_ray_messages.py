"""`population.ray_messages`: Ray's reports of a lost worker go to the run's log and one line of ours,
everything else Ray prints passes unchanged. Driven through Ray's own printer, without a cluster; the
engine test kills a real worker (tests/population/test_engine.py)."""

from __future__ import annotations

import ray._private.worker as ray_worker

from samplenas.population.ray_messages import routed

DEATH = ("A worker died or was killed while executing a task by an unexpected system error. To troubleshoot the "
         "problem, check the logs for the dead worker. Worker PID: 18489 Worker exit type: SYSTEM_ERROR")
RETRY = "Task _run_task failed. There are 3 retries remaining, so the task will be retried. Error: \n"
OTHER = "Warning: The following resource request cannot be scheduled right now: {'GPU': 1.0}"


def raylet(line: str) -> dict:
    return {"lines": [line], "pid": "raylet", "is_err": False}


def test_a_lost_worker_is_one_line_of_ours_and_rays_report_lands_in_the_log(tmp_path, capsys):
    log = tmp_path / "ray.log"
    said: list[str] = []
    with routed(log, said.append):
        ray_worker.print_to_stdstream(raylet(DEATH), False)
        ray_worker.print_to_stdstream(raylet(RETRY), False)
        ray_worker.print_to_stdstream(raylet("Task _run_task failed due to node preemption. The task will be "
                                             "retried, but the retry will not count against the normal retry count."),
                                      False)
    out, err = capsys.readouterr()
    assert out == err == ""
    assert said == [f"a Ray worker died during an evaluation; Ray runs it again, 3 retries left; Ray's report is "
                    f"in {log}", f"a Ray worker died during an evaluation; Ray runs it again; Ray's report is in {log}"]
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and DEATH in lines[0] and "(raylet) Task _run_task failed. There are 3" in lines[1]


def test_other_messages_pass_and_the_printer_is_restored(tmp_path, capsys):
    original = ray_worker.print_to_stdstream
    with routed(tmp_path / "ray.log", print):
        ray_worker.print_to_stdstream(raylet(OTHER), False)
        ray_worker.print_to_stdstream({"lines": ["hello from a task"], "pid": 4242, "is_err": True}, False)
    assert ray_worker.print_to_stdstream is original
    out, err = capsys.readouterr()
    assert OTHER in out and "hello from a task" in err and not (tmp_path / "ray.log").exists()
    ray_worker.print_to_stdstream(raylet(DEATH), False)  # outside a run: Ray's own printer again
    assert "A worker died" in capsys.readouterr().out


def test_without_a_log_the_report_is_dropped_and_the_retry_still_said(tmp_path, capsys):
    said: list[str] = []
    with routed(None, said.append):
        ray_worker.print_to_stdstream(raylet(DEATH), False)
        ray_worker.print_to_stdstream(raylet(RETRY), False)
    assert said == ["a Ray worker died during an evaluation; Ray runs it again, 3 retries left"]
    assert capsys.readouterr() == ("", "")
