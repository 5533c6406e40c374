"""Fault tolerance of `samplenas evolve`, shown on a real (small) search.

Runs the same search twice with a local Ray: once undisturbed, once while a thread SIGKILLs the
worker process of a running evaluation KILLS times (a process of this run's own Ray whose title is
`ray::_run_task`, i.e. one that is executing an evaluation right now). Then checks that the disturbed
run finished with every evaluation in evaluations.jsonl exactly once, the same set of evaluations as
the undisturbed run, and the same final population (evaluations are deterministic given the seed).

    python tools/engine_faults.py --out /tmp/faults --kills 4 -- --data fashion-mnist --data-dir ../shared/data ...
(arguments after `--` are `samplenas evolve` flags, without --out / --workers.)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path


def descendants(root: int) -> list[int]:
    """Pids of every process below `root` (from /proc; Ray's raylet and workers are our children)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def busy_workers() -> list[int]:
    pids = []
    for pid in descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::_run_task"):
            pids.append(pid)
    return pids


def killer(kills: int, every_s: float, done: threading.Event, log: list[dict]) -> None:
    started = time.monotonic()
    while len(log) < kills and not done.is_set():
        done.wait(every_s)
        victims = busy_workers()
        if victims and not done.is_set():
            os.kill(victims[0], signal.SIGKILL)
            log.append({"t": round(time.monotonic() - started, 2), "pid": victims[0]})
            print(f"killed worker {victims[0]} mid-evaluation at t={log[-1]['t']}s", flush=True)


def run(flags: list[str], out: Path, workers: int) -> dict:
    from samplenas.cli import main

    code = main(["evolve", "--out", str(out), "--workers", str(workers), "--quiet", *flags])
    if code != 0:
        raise SystemExit(f"evolve exited with {code}")
    return json.loads((out / "result.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--every", type=float, default=6.0, help="seconds between kills")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("flags", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    flags = [f for f in args.flags if f != "--"]
    clean = run(flags, args.out / "undisturbed", args.workers)
    kills: list[dict] = []
    done = threading.Event()
    thread = threading.Thread(target=killer, args=(args.kills, args.every, done, kills), daemon=True)
    thread.start()
    try:
        disturbed = run(flags, args.out / "killed", args.workers)
    finally:
        done.set()
        thread.join()
    lines = [json.loads(x) for x in (args.out / "killed" / "evaluations.jsonl").read_text().splitlines()]
    clean_lines = [json.loads(x) for x in (args.out / "undisturbed" / "evaluations.jsonl").read_text().splitlines()]
    keys = [r["key"] for r in lines]
    report = {
        "kills": len(kills), "kill_times_s": [k["t"] for k in kills],
        "evaluations_logged": len(keys), "duplicates": len(keys) - len(set(keys)),
        "missing_vs_undisturbed": sorted({r["key"] for r in clean_lines} - set(keys)),
        "extra_vs_undisturbed": sorted(set(keys) - {r["key"] for r in clean_lines}),
        "same_fitness_per_key": all(r["fitness"] == c["fitness"] for r in lines for c in clean_lines
                                    if r["key"] == c["key"]),
        "same_final_population": disturbed["population"] == clean["population"],
        "wall_s": {"undisturbed": clean["evaluations"]["wall_s"], "killed": disturbed["evaluations"]["wall_s"]},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
