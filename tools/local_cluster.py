"""A Ray cluster of several nodes on this machine, for the cluster tools (`engine_two_node.py`,
`engine_node_failure.py`).

Each node is one `ray start --block` that this process launches in its own process group, so a node
(its raylet, object store, workers and, for the head, the GCS) is stopped -- or killed, to simulate a
node failure -- by signalling that group only; nothing else on the machine is touched. A node can be
started inside a private mount namespace (`unshare -m`) where chosen folders are covered by empty
tmpfs mounts: a node with its own disk, which cannot see the driver's run folder or data. Each node
carries a custom resource named after it, which tells its NodeID apart in `ray.nodes()`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def add_search_arguments(parser, generations: int) -> None:
    """The small evolve search the cluster tools run: its data and size."""
    repo = Path(__file__).resolve().parents[1]
    parser.add_argument("--data", default="mnist")
    parser.add_argument("--data-dir", default=os.environ.get("SAMPLENAS_DATA", str(repo.parent / "shared" / "data")))
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument("--generations", type=int, default=generations)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """Nodes by name; `address` is the head's GCS address (what `--address` takes)."""

    def __init__(self, temp: Path, env: dict[str, str] | None = None):
        self.temp = Path(temp)
        self.env = {**os.environ, **(env or {}), "RAY_TMPDIR": str(self.temp), "RAY_USAGE_STATS_ENABLED": "0",
                    "RAY_AUTH_MODE": "disabled"}  # loopback only; a head's token would be shared through ~/.ray
        self.address = f"127.0.0.1:{free_port()}"
        self.nodes: dict[str, subprocess.Popen] = {}
        beside = Path(sys.executable).with_name("ray")  # this interpreter's Ray, not a shim resolved elsewhere
        self._ray = str(beside) if beside.exists() else shutil.which("ray") or "ray"

    def start_head(self, cpus: int, name: str = "head") -> None:
        port = self.address.rsplit(":", 1)[1]
        self._launch(name, [self._ray, "start", "--head", "--port", port, "--num-cpus", str(cpus), "--block",
                            "--disable-usage-stats", "--include-dashboard", "false", "--temp-dir", str(self.temp),
                            "--resources", json.dumps({name: 1})])
        self.wait_for([name])  # a raylet started before the GCS listens fails to join

    def add_node(self, name: str, cpus: int, hidden: tuple[Path, ...] = (), env: dict[str, str] | None = None) -> None:
        """A raylet joining the head; `hidden` folders are empty tmpfs mounts in its own mount namespace
        (needs root, as `unshare -m` does)."""
        command = [self._ray, "start", "--address", self.address, "--num-cpus", str(cpus), "--block",
                   "--disable-usage-stats", "--resources", json.dumps({name: 1})]
        if hidden:
            mounts = " && ".join(f"mount -t tmpfs -o size=1m,mode=0555 samplenas-hidden {shlex.quote(str(p))}"
                                 for p in hidden)
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       f'{mounts} && cd / && exec "$@"', "sh", *command]
        self._launch(name, command, env)

    def _launch(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.temp / f"{name}.log", "wb")  # noqa: SIM115 - the child holds it; closed with the node
        self.nodes[name] = subprocess.Popen(command, env={**self.env, **(env or {})}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for(self, names: list[str], timeout_s: float = 120.0) -> dict[str, str]:
        """{name: NodeID} once every named node is alive (queried from a short-lived driver)."""
        probe = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); "
                 "print(json.dumps([[n['NodeID'], n['Alive'], list(n['Resources'])] for n in ray.nodes()]))")
        deadline = time.time() + timeout_s
        while True:
            for name, process in self.nodes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"node {name} exited ({process.returncode}); see {self.temp / name}.log")
            done = subprocess.run([sys.executable, "-c", probe % self.address], env=self.env, capture_output=True,
                                  text=True, timeout=120)
            if done.returncode == 0:
                alive = {res: node for node, ok, resources in json.loads(done.stdout.strip().splitlines()[-1])
                         if ok for res in resources}
                if all(n in alive for n in names):
                    return {n: alive[n] for n in names}
            if time.time() > deadline:
                raise RuntimeError(f"nodes {names} not all alive after {timeout_s:g} s")
            time.sleep(1.0)

    def pids(self, name: str) -> list[int]:
        """Every live process of node `name` (its process group)."""
        return self._group_pids(self.nodes[name])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> list[int]:
        """Signal node `name`'s whole process group (raylet, object store, workers); returns its pids."""
        process = self.nodes.pop(name)
        pids = self._group_pids(process)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        process.wait()
        return pids

    @staticmethod
    def _group_pids(process: subprocess.Popen) -> list[int]:
        out = subprocess.run(["ps", "-e", "-o", "pid=,pgid="], capture_output=True, text=True).stdout.split()
        return [int(pid) for pid, pgid in zip(out[::2], out[1::2]) if int(pgid) == process.pid]

    def stop(self) -> None:
        """Stop every node this object started, the head last (SIGTERM, then SIGKILL after 20 s)."""
        for name in [n for n in self.nodes if n != "head"] + [n for n in self.nodes if n == "head"]:
            process = self.nodes.pop(name)
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            for pid in self._group_pids(process):  # stragglers of the group
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
