"""Engine overhead and scaling on many short synthetic evaluations (the paper's Fig. 7 shape).

For each worker count W a fresh local Ray with W worker CPUs runs TASKS sleep tasks of SECONDS each
through `Engine` (after a warm-up that starts the W worker processes). Ideal time = TASKS * SECONDS / W;
efficiency = ideal / measured; overhead per task = (measured - ideal) * W / TASKS. Sleep tasks need no
CPU, so W may exceed the machine's cores and still measure the engine rather than the arithmetic.

    python tools/bench_engine.py --tasks 200 --seconds 1 --workers 1,2,4,8 --out bench_engine
writes OUT/bench_engine.json, OUT/evals_per_minute.png and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from samplenas.population.engine import Engine, ray_runtime, save_state  # noqa: E402
from samplenas.population.figures import plot_scaling  # noqa: E402
from samplenas.population.synthetic import sleep_task  # noqa: E402


def measure(workers: int, tasks: int, seconds: float) -> dict:
    with ray_runtime(workers=workers):
        Engine(sleep_task).run((f"warm{i}", {"seconds": 0.2}) for i in range(workers))  # start W workers
        engine = Engine(sleep_task)
        started = time.perf_counter()
        results = engine.run((f"t{i}", {"seconds": seconds, "fitness": float(i)}) for i in range(tasks))
        wall = time.perf_counter() - started
    assert len(results) == tasks
    ideal = tasks * seconds / workers
    overhead_ms = 1000 * (wall - ideal) * workers / tasks
    return {"workers": workers, "tasks": tasks, "task_s": seconds, "wall_s": round(wall, 3), "ideal_s": round(ideal, 3),
            "efficiency": round(ideal / wall, 4), "overhead_per_task_ms": round(overhead_ms, 2),
            "evals_per_min": round(60 * tasks / wall, 2), "distinct_pids": len({r.pid for r in results.values()})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--out", type=Path, default=Path("bench_engine"))
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    rows = []
    for w in counts:
        rows.append(measure(w, args.tasks, args.seconds))
        print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    save_state(args.out / "bench_engine.json", {"rows": rows, "cpu_count": os.cpu_count(),
                                                "load_avg": os.getloadavg()})
    plot_scaling([r["workers"] for r in rows], [r["evals_per_min"] for r in rows], args.out / "evals_per_minute.png",
                 f"{args.tasks} synthetic tasks of {args.seconds:g} s")
    print("| workers | wall s | ideal s | efficiency | overhead / task | evaluations / min |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['wall_s']:.1f} | {r['ideal_s']:.1f} | {r['efficiency']:.3f} | "
              f"{r['overhead_per_task_ms']:.1f} ms | {r['evals_per_min']:.1f} |")


if __name__ == "__main__":
    main()
