"""Node failure, not just worker failure: a search survives a whole node dying, and its driver dying.

On a local two-node cluster (`local_cluster.LocalCluster`: a head and a second raylet, each its own
process group), runs `samplenas evolve --address HEAD`:

1. node failure -- once the second node has returned KILL_AFTER evaluations, SIGKILL its whole process
   group (raylet, object store, workers) mid-search; the search must finish on the head;
2. driver failure -- with a fresh second node, SIGKILL the driver after KILL_AFTER evaluations, then run
   the same command with `--resume`.

Both runs are compared with a reference run of the same search on a local Ray (`--workers 2`): the same
evaluation keys with the same fitnesses, none missing and none twice in evaluations.jsonl. Only the
processes this script started are stopped.

    python tools/engine_node_failure.py --data-dir /work/shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from local_cluster import LocalCluster, add_search_arguments

REPO = Path(__file__).resolve().parents[1]


def search_command(args, out: Path, where: list[str]) -> list[str]:
    return [sys.executable, "-m", "samplenas", "evolve", *where, "--data", args.data, "--data-dir", args.data_dir,
            "--limit", str(args.limit), "--population", str(args.population), "--generations", str(args.generations),
            "--epochs-per-candidate", "1", "--final-epochs", "0", "--max-layers", "3", "--reductions", "1",
            "--seed", "5", "--out", str(out), "--quiet"]


def records(out: Path) -> list[dict]:
    path = out / "evaluations.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def run_until(command: list[str], env: dict, out: Path, stop_when, timeout_s: float = 1800) -> tuple[int, float]:
    """Run the search; call `stop_when(records)` while it runs (it may kill something); (exit status, wall s)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    fired = False
    while process.poll() is None:
        if not fired:
            fired = bool(stop_when(records(out), process))
        if time.perf_counter() - started > timeout_s:
            process.kill()
        time.sleep(0.2)
    output = process.stdout.read()
    if process.returncode not in (0, -signal.SIGKILL):
        print(output[-3000:], flush=True)
    return process.returncode, time.perf_counter() - started


def compare(reference: list[dict], got: list[dict]) -> dict:
    keys = [r["key"] for r in got]
    ref = {r["key"]: r["fitness"] for r in reference}
    fit = {r["key"]: r["fitness"] for r in got}
    return {"evaluations": len(got), "duplicated_keys": len(keys) - len(set(keys)),
            "missing_vs_reference": len(set(ref) - set(fit)), "extra_vs_reference": len(set(fit) - set(ref)),
            "same_fitness_as_reference": sum(ref.get(k) == v for k, v in fit.items()),
            "retried_attempts": sum(r["attempts"] > 1 for r in got)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_search_arguments(parser, generations=3)
    parser.add_argument("--kill-after", type=int, default=3, help="evaluations returned before the kill")
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="snnf", dir="/tmp"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    summary: dict = {}

    status, wall = run_until(search_command(args, temp / "reference", ["--workers", "2"]), env, temp / "reference",
                             lambda rows, process: False)
    reference = records(temp / "reference")
    summary["reference"] = {"exit_status": status, "wall_s": round(wall, 1), "evaluations": len(reference)}
    print(json.dumps(summary["reference"]), flush=True)

    cluster = LocalCluster(temp, env={"PYTHONPATH": str(REPO)})
    try:
        cluster.start_head(1)
        cluster.add_node("node2", 1)
        ids = cluster.wait_for(["head", "node2"])
        names = {node_id: name for name, node_id in ids.items()}
        killed: dict = {}

        def kill_node(rows, process) -> bool:
            on_node2 = [r for r in rows if r["node_id"] == ids["node2"]]
            if len(on_node2) < args.kill_after:
                return False
            killed.update(at_evaluation=len(rows), pids=cluster.kill("node2"), at=time.perf_counter())
            print(f"node2 killed after {len(rows)} evaluations ({len(on_node2)} on node2): "
                  f"SIGKILL to {len(killed['pids'])} processes", flush=True)
            return True

        out = temp / "node_failure"
        status, wall = run_until(search_command(args, out, ["--address", cluster.address]), cluster.env, out,
                                 kill_node)
        got = records(out)
        after = got[killed.get("at_evaluation", len(got)):]
        summary["node_failure"] = {
            "exit_status": status, "wall_s": round(wall, 1), "killed_after_evaluations": killed.get("at_evaluation"),
            "processes_killed": len(killed.get("pids", [])),
            "per_node": dict(Counter(names.get(r["node_id"], "?") for r in got)),
            "per_node_after_kill": dict(Counter(names.get(r["node_id"], "?") for r in after)),
            **compare(reference, got)}
        print(json.dumps(summary["node_failure"]), flush=True)

        cluster.add_node("node3", 1)
        ids.update(cluster.wait_for(["head", "node3"]))
        names = {node_id: name for name, node_id in ids.items()}
        out = temp / "driver_failure"
        command = search_command(args, out, ["--address", cluster.address])
        first: dict = {}

        def kill_driver(rows, process) -> bool:
            if len(rows) < args.kill_after:
                return False
            process.send_signal(signal.SIGKILL)
            first["at_evaluation"] = len(rows)
            return True

        status_killed, wall_killed = run_until(command, cluster.env, out, kill_driver)
        before_resume = len(records(out))
        status, wall = run_until(command + ["--resume"], cluster.env, out, lambda rows, process: False)
        got = records(out)
        summary["driver_failure"] = {
            "first_exit_status": status_killed, "killed_after_evaluations": first.get("at_evaluation"),
            "logged_before_resume": before_resume, "resume_exit_status": status, "resume_wall_s": round(wall, 1),
            "per_node": dict(Counter(names.get(r["node_id"], "?") for r in got)), **compare(reference, got)}
        print(json.dumps(summary["driver_failure"]), flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(temp, ignore_errors=True)
    print(json.dumps(summary))
    bad = [name for name in ("node_failure", "driver_failure")
           if summary[name].get("exit_status", summary[name].get("resume_exit_status")) != 0
           or summary[name]["duplicated_keys"] or summary[name]["missing_vs_reference"]]
    if bad:
        sys.exit(f"failed: {', '.join(bad)}")


if __name__ == "__main__":
    main()
