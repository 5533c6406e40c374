"""A search on a two-node cluster whose second node has its own disk: it cannot see the driver's run
folder, the data folder or the project's code.

Starts a head node (HEAD_CPUS) and a second raylet (NODE_CPUS) inside a private mount namespace
(`unshare -m`, root) where --out's folder, the data folder, this checkout and any --hide folder are
covered by empty tmpfs mounts; runs `samplenas evolve --address HEAD` as a user would; then reports
where the evaluations ran and what the second node's workers opened (an audit hook on `open`,
`SAMPLENAS_AUDIT_OPENS`). The code reaches that node through `runtime_env["py_modules"]`, the data
through the object store. Only the processes this script started are stopped (by process group).

    python tools/engine_two_node.py --data-dir /work/shared/data --hide /work/main
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from local_cluster import LocalCluster, add_search_arguments

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_search_arguments(parser, generations=2)
    parser.add_argument("--head-cpus", type=int, default=1)
    parser.add_argument("--node-cpus", type=int, default=1)
    parser.add_argument("--hide", action="append", default=[], help="another folder the second node must not see")
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="sn2n", dir="/tmp"))
    run_root, audit = temp / "run", temp / "audit"
    run_root.mkdir()
    audit.mkdir()
    out = run_root / "evolve"
    hidden = tuple(Path(p).resolve() for p in (run_root, args.data_dir, REPO, *args.hide))
    cluster = LocalCluster(temp, env={"PYTHONPATH": str(REPO)})
    try:
        cluster.start_head(args.head_cpus)
        cluster.add_node("node2", args.node_cpus, hidden=hidden, env={"SAMPLENAS_AUDIT_OPENS": str(audit)})
        ids = cluster.wait_for(["head", "node2"])
        print(f"cluster {cluster.address}: head {ids['head'][:8]} ({args.head_cpus} CPU), node2 {ids['node2'][:8]} "
              f"({args.node_cpus} CPU) with {', '.join(map(str, hidden))} hidden", flush=True)
        command = [sys.executable, "-m", "samplenas", "evolve", "--address", cluster.address, "--data", args.data,
                   "--data-dir", args.data_dir, "--limit", str(args.limit), "--population", str(args.population),
                   "--generations", str(args.generations), "--epochs-per-candidate", "1", "--final-epochs", "1",
                   "--top", "1", "--max-layers", "3", "--reductions", "1", "--out", str(out), "--quiet"]
        print("$ " + " ".join(command[1:]), flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, env=cluster.env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        print(done.stdout.strip()[-2000:], done.stderr.strip()[-2000:], sep="\n", flush=True)
    finally:
        cluster.stop()
    names = {node_id: name for name, node_id in ids.items()}
    records = [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()]
    opened = [line.rstrip("\n") for path in audit.glob("*.opens") for line in path.open(encoding="utf-8")]
    blocked = sorted({p for p in opened if any(Path(p).is_relative_to(h) for h in hidden)})
    summary = {"exit_status": done.returncode, "wall_s": round(wall, 1), "evaluations": len(records),
               "per_node": dict(Counter(names.get(r["node_id"], r["node_id"][:8]) for r in records)),
               "keys_unique": len({r["key"] for r in records}) == len(records),
               "node2_worker_processes": len(list(audit.glob("*.opens"))), "node2_files_opened": len(opened),
               "node2_opened_under_hidden_folders": blocked[:10]}
    print(json.dumps(summary))
    shutil.rmtree(temp, ignore_errors=True)
    if done.returncode != 0 or summary["per_node"].get("node2", 0) == 0 or blocked:
        sys.exit(1)


if __name__ == "__main__":
    main()
