"""Supernet training on several processes (`torchrun`, gloo on CPU): one-process equivalence of the
same-architecture mode, every space and sampler in both modes, exact resume after a rank is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from samplenas.errors import UserError
from samplenas.samplers import SAMPLERS
from samplenas.training.checkpoint import load_checkpoint
from samplenas.training.supernet_run import open_run
from samplenas.training.supernet_train import CHECKPOINT, SupernetTrainer
from samplenas.training.train_config import TrainConfig

TINY_NB101 = {"stem_channels": 8, "num_stacks": 2, "cells_per_stack": 1}
TINY_NETWORKS = {
    "nb101": TINY_NB101,
    "nasnet": {"C": 4, "layers": 3},
    "shufflenet": {"stage_channels": [8, 16, 24, 32], "stem_channels": 4, "last_channels": 16},
    "autoencoder": {"max_layers": 3},
}
VAE_OPTIONS = {"iters": 5, "hidden_dim": 16, "batch_size": 8}
EQUIVALENCE = dict(space="nb101", sampler="uniform", steps=3, batch_size=16, eval_every=2, eval_archs=3,
                   eval_examples=32, bn_batches=1, limit=160,
                   network={**TINY_NB101, "input_output_edge": "always"})  # what the CLI gives a new run
RESUME_ARGS = [
    "train", "--space", "nb101", "--sampler", "vae", "--epsilon-inc", "0.1", "--rank-archs", "different",
    "--steps", "8", "--batch-size", "16", "--eval-every", "3", "--eval-archs", "3", "--eval-examples", "32",
    "--bn-batches", "1", "--checkpoint-every", "3", "--limit", "160", "--network", json.dumps(TINY_NB101),
    "--sampler-options", json.dumps(VAE_OPTIONS), "--quiet",
]
# Every rank runs the CLI; after the checkpoint of step KILL_AT each rank announces "CHECKPOINTED rank pid"
# and blocks, so the test can SIGKILL one live rank at a known point.
WRAPPER = """
import os, sys, time
import torch
torch.set_num_threads(1)
from samplenas.training.supernet_train import SupernetTrainer
original = SupernetTrainer.save
def save_and_maybe_wait(self, out):
    original(self, out)
    if self.step == int(sys.argv[1]):
        print("CHECKPOINTED", self.world.rank, os.getpid(), flush=True)
        time.sleep(300)
SupernetTrainer.save = save_and_maybe_wait
from samplenas.cli import main
sys.exit(main(sys.argv[2:]))
"""
# One torchrun launch trains every (space, sampler) pair for one step and one evaluation round in one process
# group and records, per pair, whether the ranks ended with identical replicas (weights, BN statistics after
# the round's broadcast, the sampler's next draws after rank 0's observe).
MATRIX = """
import hashlib, json, sys
import torch
torch.set_num_threads(1)
from samplenas.training.distributed import close_world, gather_objects, init_world
from samplenas.training.supernet_train import SupernetTrainer
from samplenas.training.train_config import TrainConfig
world = init_world("cpu")
results = {}
for values in json.loads(sys.argv[2]):
    out = f"{sys.argv[1]}/{values['space']}-{values['sampler']}"
    trainer = SupernetTrainer(TrainConfig(**values), progress=False, world=world)
    summary = trainer.train(out)
    digest = hashlib.sha256()
    for tensor in trainer.supernet.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    replicas = gather_objects([digest.hexdigest(), [list(a) for a in trainer.sampler.sample(3)]], world)
    results[out] = {"summary": summary, "replicas_equal": all(r == replicas[0] for r in replicas)}
if world.is_main:
    with open(f"{sys.argv[1]}/results.json", "w") as f:
        json.dump(results, f)
close_world(world)
"""

# A rank's process group must be gone once `close_world` returns: gloo threads that outlive it can abort a
# rank that exits at once. The optimizer imports torch._dynamo after the group is joined, as every trainer's does.
# Each rank writes its threads' names to its own file (two ranks' lines on one stdout pipe can merge).
CLOSE = """
import json, os, sys
import torch
from samplenas.training.distributed import close_world, init_world, reduce_sums
world = init_world("cpu")
torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
reduce_sums({"one": 1.0}, world)
close_world(world)
names = sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))
with open(os.path.join(sys.argv[1], f"threads-{world.rank}.json"), "w") as f:
    json.dump(names, f)
"""


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _cli_args(values: dict) -> list[str]:
    args = ["train"]
    for name, value in values.items():
        args += [f"--{name.replace('_', '-')}", json.dumps(value) if isinstance(value, dict) else str(value)]
    return args


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.mark.slow  # one torchrun launch of two processes (22 s on 2 cores shared at load ~10)
def test_same_architecture_on_two_processes_equals_one_process_with_the_global_batch(tmp_path):
    one = SupernetTrainer(TrainConfig(**EQUIVALENCE), progress=False)
    one.train(tmp_path / "one")
    done = subprocess.run(_torchrun("-m", "samplenas", *_cli_args(EQUIVALENCE), "--quiet", "--out",
                                    str(tmp_path / "two")), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = load_checkpoint(tmp_path / "one" / CHECKPOINT), load_checkpoint(tmp_path / "two" / CHECKPOINT)
    assert b["world_size"] == 2 and len(b["rank_rngs"]) == 2 and b["step"] == 3
    # weights and BN running statistics (synchronised training BN, recalibrated by the last scorer)
    assert _max_difference(a["model"], b["model"]) < 1e-5
    assert b["evaluations"][0]["best_arch"] == a["evaluations"][0]["best_arch"]
    assert b["evaluations"][0]["scores"] == pytest.approx(a["evaluations"][0]["scores"], abs=1e-5)
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["processes"] == 2
    assert "trained nb101 supernet" in done.stdout and done.stdout.count("checkpoint:") == 1  # rank 0 prints
    # search and rank open the run in one process; --resume needs the same number of processes
    assert open_run(tmp_path / "two").score(one.space.sample_uniform(np.random.default_rng(0)))["score"] >= 0
    with pytest.raises(UserError, match=r"written by 2 process\(es\); resume it with the same number"):
        SupernetTrainer(TrainConfig(**EQUIVALENCE), progress=False).train(tmp_path / "two", resume=True)


@pytest.mark.slow  # one torchrun launch of two processes training two members in turn
def test_an_ensemble_run_trains_its_members_on_two_processes(tmp_path):
    """`train --members 2` under torchrun: member 0 (seed 0, 3 of the 6 steps) is the two-process run of the
    plain config above, so it matches one process with the global batch as that run does."""
    done = subprocess.run(_torchrun("-m", "samplenas", *_cli_args({**EQUIVALENCE, "steps": 6, "members": 2}),
                                    "--quiet", "--out", str(tmp_path / "two")),
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 2 nb101 supernets") == 1  # rank 0 prints
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["seeds"] == [0, 1] and summary["steps_per_member"] == 3
    members = [load_checkpoint(tmp_path / "two" / "supernets" / str(i) / CHECKPOINT) for i in (0, 1)]
    assert [m["world_size"] for m in members] == [2, 2] and [m["step"] for m in members] == [3, 3]
    one = SupernetTrainer(TrainConfig(**EQUIVALENCE), progress=False)
    one.train(tmp_path / "one")
    assert _max_difference(load_checkpoint(tmp_path / "one" / CHECKPOINT)["model"], members[0]["model"]) < 1e-5


def _matrix_values() -> list[dict]:
    values = []
    for space, network in TINY_NETWORKS.items():
        for sampler in SAMPLERS.names():
            options = {"vae": VAE_OPTIONS, "mixture": {"inner_options": VAE_OPTIONS},
                       "predictor": {"inner_options": {"inner_options": VAE_OPTIONS}, "min_observations": 2},
                       "evolution": {"population_size": 2, "tournament_size": 2}}.get(sampler, {})
            values.append(dict(space=space, sampler=sampler, network=network, sampler_options=options,
                               mode="gradient" if sampler in ("gumbel", "multinomial") else "one-shot",
                               rank_archs="different" if sampler in ("fair", "multinomial", "vae") else "same",
                               steps=1, batch_size=8, eval_every=1, eval_archs=2, eval_examples=8, bn_batches=1,
                               limit=64, checkpoint_every=100))
    return values


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("ddp_matrix")
    (root / "matrix.py").write_text(MATRIX)
    done = subprocess.run(_torchrun(str(root / "matrix.py"), str(root), json.dumps(_matrix_values())),
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"root": root, "results": json.loads((root / "results.json").read_text())}


@pytest.mark.slow  # one torchrun launch for all 28 pairs (56 s on 2 cores shared at load ~10)
@pytest.mark.parametrize("values", _matrix_values(), ids=lambda v: f"{v['space']}-{v['sampler']}-{v['rank_archs']}")
def test_every_space_and_sampler_trains_on_two_processes(matrix, values):
    out = f"{matrix['root']}/{values['space']}-{values['sampler']}"
    result = matrix["results"][out]
    assert result["replicas_equal"]  # weights, BN statistics and sampler stay identical on both ranks
    assert result["summary"]["steps"] == 1 and result["summary"]["processes"] == 2
    state = load_checkpoint(Path(out) / CHECKPOINT)
    assert state["world_size"] == 2 and state["config"]["rank_archs"] == values["rank_archs"]
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())
    # a FairNAS sampler draws whole groups, so a round scores at least the 2 architectures asked for
    assert len(state["evaluations"]) == 1 and len(state["evaluations"][0]["scores"]) >= 2


def _launch(wrapper: Path, kill_at: int, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(_torchrun(str(wrapper), str(kill_at), *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())


@pytest.mark.slow  # three torchrun launches, two at once (41 s on 2 cores shared at load ~10)
def test_killed_rank_resumes_to_the_bitwise_weights_of_an_uninterrupted_run(tmp_path):
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = _launch(wrapper, -1, [*RESUME_ARGS, "--out", str(straight)])
    victim = _launch(wrapper, 6, [*RESUME_ARGS, "--out", str(killed)])
    announced = {}
    while len(announced) < 2:
        line = victim.stdout.readline()
        if not line:  # the launcher ended before its ranks checkpointed: say how (a negative code: a signal)
            pytest.fail(f"torchrun exited with {victim.wait()} before step 6: {victim.stderr.read()[-3000:]}")
        if line.startswith("CHECKPOINTED"):
            _, rank, pid = line.split()
            announced[int(rank)] = int(pid)
    os.kill(announced[1], signal.SIGKILL)  # one rank dies; torchrun stops the other
    victim.communicate(timeout=120)
    assert victim.returncode != 0
    assert load_checkpoint(killed / CHECKPOINT)["step"] == 6
    resumed = _launch(wrapper, -1, ["train", "--out", str(killed), "--resume", "--quiet"])
    for process in (reference, resumed):
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
    a, b = load_checkpoint(straight / CHECKPOINT), load_checkpoint(killed / CHECKPOINT)
    assert a["step"] == b["step"] == 8
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x, y) for x, y in zip(a["sampler"]["inner"]["model"].values(),
                                                 b["sampler"]["inner"]["model"].values()))
    assert a["sampler"]["epsilon"] == b["sampler"]["epsilon"] > 0
    assert a["evaluations"] == b["evaluations"] and len(a["evaluations"]) == 2
    assert all(torch.equal(x["torch"], y["torch"]) for x, y in zip(a["rank_rngs"], b["rank_rngs"]))


def test_closing_the_world_stops_the_process_groups_threads(tmp_path):
    (tmp_path / "close.py").write_text(CLOSE)
    done = subprocess.run(_torchrun(str(tmp_path / "close.py"), str(tmp_path)), env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    threads = [json.loads((tmp_path / f"threads-{rank}.json").read_text()) for rank in (0, 1)]
    assert all("python" in names for names in threads)  # the main thread's name: the file was read right
    assert not [name for names in threads for name in names if "gloo" in name]  # gloo_tcp_loop, pt_gloo_runloop


def test_fair_groups_are_spread_over_processes():
    from samplenas.training.distributed import World, rank_archs_per_step

    two = World(rank=0, size=2)
    assert rank_archs_per_step(1, two, different=True) == 2  # one path per process
    assert rank_archs_per_step(4, World(rank=0, size=4), different=True) == 4  # m processes: one group per step
    assert rank_archs_per_step(4, two, different=True) == 4  # two paths of the group on each process
    assert rank_archs_per_step(3, two, different=True) == 6  # whole groups only: exact fairness per step
    assert rank_archs_per_step(3, two, different=False) == 3  # same paths everywhere: one group


def test_sharded_streams_together_hold_the_one_process_batches():
    from samplenas.training.batches import BatchStream
    from samplenas.training.data import load_dataset
    from samplenas.training.distributed import ShardedBatchStream, World

    train = load_dataset("digits", None, ("train",), limit=50).train
    one = BatchStream(train, 8, seed=3)
    shards = [ShardedBatchStream(train, 8, 3, 0, World(rank=r, size=2)) for r in range(2)]
    for _ in range(9):  # crosses an epoch boundary (6 batches of 8 in 50 examples)
        x, y = one.next()
        parts = [s.next() for s in shards]
        assert torch.equal(x[0::2], parts[0][0]) and torch.equal(x[1::2], parts[1][0])
        assert torch.equal(y, torch.stack([parts[0][1], parts[1][1]], dim=1).reshape(-1))
    assert all(s.state_dict() == one.state_dict() for s in shards)
    with pytest.raises(UserError, match="not divisible by the 3 processes"):
        ShardedBatchStream(train, 8, 3, 0, World(rank=0, size=3))


def test_sliced_batch_norm_converts_to_its_synchronised_twin():
    from samplenas.supernet import SUPERNETS
    from samplenas.supernet.ops import SlicedBatchNorm2d
    from samplenas.training.distributed import GlobalBatchNorm2d, GlobalSlicedBatchNorm2d, convert_sync_batchnorm

    supernet = SUPERNETS["nb101"](**TINY_NB101)
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    kinds = {type(m) for m in convert_sync_batchnorm(supernet).modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert GlobalSlicedBatchNorm2d in kinds and kinds <= {GlobalSlicedBatchNorm2d, GlobalBatchNorm2d}
    assert issubclass(GlobalSlicedBatchNorm2d, SlicedBatchNorm2d)  # recalibration and export still find it
    after = supernet.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
