"""Elasticity on one machine: a search started on a 1-CPU cluster uses a node that joins mid-run.

Starts a head node with 1 CPU (Ray's own `ray.cluster_utils.Cluster`), joins it through `ray_runtime(address=...)` as
`samplenas evolve --address` does, runs TASKS sleep evaluations through `Engine`, and after JOIN_AFTER
results starts a second node -- `ray start --address HEAD --num-cpus 1`, a second raylet on this
machine -- while the search runs. Prints where each evaluation ran and the throughput before/after.
Only the processes this script started are stopped at the end (`Cluster.shutdown`, and the second
node's process group).

    python tools/engine_elastic.py --tasks 24 --seconds 1 --join-after 6
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from ray.cluster_utils import Cluster  # noqa: E402

from samplenas.population.engine import Engine, cluster_cpus, ray_runtime  # noqa: E402
from samplenas.population.synthetic import sleep_task  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--join-after", type=int, default=6)
    args = parser.parse_args()
    temp = tempfile.mkdtemp(prefix="snel", dir="/tmp")
    os.environ["RAY_TMPDIR"] = temp  # Ray's "current cluster" file goes here, not to the shared /tmp/ray
    os.makedirs(os.path.join(temp, "ray"))
    rows, joined_at, joiner, cluster = [], None, None, None
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "temp_dir": temp,
                                                                "include_dashboard": False})
        with ray_runtime(address=cluster.address) as info:
            print(f"joined {info.address}: {cluster_cpus():g} CPU(s)", flush=True)
            engine = Engine(sleep_task)
            for i in range(args.tasks):
                engine.submit(f"t{i}", {"seconds": args.seconds})
            started = time.perf_counter()
            for result in engine.as_completed():
                rows.append({"key": result.key, "t": round(time.perf_counter() - started, 2),
                             "node_id": result.node_id[:8], "pid": result.pid})
                if len(rows) == args.join_after and joiner is None:  # the driver keeps going meanwhile
                    joined_at = time.perf_counter() - started
                    joiner = subprocess.Popen([shutil.which("ray") or "ray", "start", "--address", cluster.address,
                                               "--num-cpus", "1", "--block", "--disable-usage-stats"],
                                              start_new_session=True, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL)
                    print(f"second node starting at t={joined_at:.1f}s", flush=True)
            wall = time.perf_counter() - started
            cpus_end = cluster_cpus()
    finally:
        if joiner is not None:  # its own process group: the `ray start` we launched and what it started
            os.killpg(joiner.pid, signal.SIGTERM)
            joiner.wait()
        if cluster is not None:
            cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    nodes = sorted({r["node_id"] for r in rows}, key=lambda n: min(r["t"] for r in rows if r["node_id"] == n))
    per_node = {n: sum(r["node_id"] == n for r in rows) for n in nodes}
    second = [r for r in rows if len(nodes) > 1 and r["node_id"] == nodes[1]]
    before = [r for r in rows if r["t"] <= joined_at]
    after = [r for r in rows if second and r["t"] >= second[0]["t"]]

    def rate(part):
        return round((len(part) - 1) / (part[-1]["t"] - part[0]["t"]), 3) if len(part) > 1 else None

    summary = {"tasks": args.tasks, "task_s": args.seconds, "wall_s": round(wall, 2), "cpus_at_end": cpus_end,
               "second_node_added_at_s": round(joined_at, 2), "per_node": per_node,
               "first_result_on_second_node_s": second[0]["t"] if second else None,
               "rate_before_per_s": rate(before), "rate_after_per_s": rate(after)}
    for r in rows:
        print(json.dumps(r))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
