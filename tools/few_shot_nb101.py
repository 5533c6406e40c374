"""Few-shot supernets on NAS-Bench-101 (Zhao et al., ICML 2021): split a trained one-shot supernet on one
decision into K sub-supernets, each warm-started from the one-shot weights and trained further only on the
cells of its part; a cell is then scored by the sub-supernet of its part.

Three splits. `--split vertex1-op` (the default): the op of encoded vertex 1 (conv3x3 / conv1x1 / maxpool3x3,
K = 3), the first decision of the encoding and the one the few-shot paper splits on (the first edge's op).
`--split edge`: whether the cell has the input->output edge (K = 2). Both parts run each cell's own edge
(`"input_output_edge": "encoded"`), so a parent trained with the edge in every cell (the default) gets a part
that learns the cells without it, which it could only score with an edge they do not have.
`--split params --parts K`: K bands of the cell's parameter count (its standalone network at the parent's
size), cut at the quantiles of `--band-draws` uniform draws of a stream of their own: cells of similar size
share weights, and the order across sizes is left to the parameter count. `--parts 1` trains one part over
every cell, the control with the same extra training and no split. Each part trains `--steps` steps with the
parent's recipe (a fresh schedule from `--lr`), uniform over its own cells.

    python tools/few_shot_nb101.py --parent RUN --steps 600 --out runs/few-shot
    python tools/zero_cost_nb101.py --out runs/zc --proxies --run few=runs/few-shot   # ranks it

OUT/few_shot.json names the parts and the split; `zero_cost_nb101.py --run NAME=OUT` recognises it.
Resumable: a part whose summary.json exists is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

FEW_SHOT_FILE = "few_shot.json"
SPLITS = ("vertex1-op", "edge", "params")
SPLIT_NAMES = {"vertex1-op": "op of encoded vertex 1", "edge": "the input->output edge",
               "params": "parameter-count band"}
# Supernet settings every part of a split trains and scores with, over the parent's.
PART_NETWORK = {"edge": {"input_output_edge": "encoded"}}
BAND_STREAM = 0xBA4D  # the bands' draws, apart from every stream the run's seed feeds
DEFAULT_PARTS, DEFAULT_BAND_DRAWS = 4, 2000  # --split params: quartiles of 2,000 uniform draws


def split_position(split: str) -> int:
    """The position of the flat encoding a split by one decision reads."""
    from samplenas.spaces.nasbench101 import NUM_EDGE_BITS, NUM_VERTICES
    from samplenas.supernet.nasbench101 import EDGE_POSITION

    if split == "edge":
        return EDGE_POSITION[(0, NUM_VERTICES - 1)]
    return NUM_EDGE_BITS  # the first op position


def band_edges(count, space, parts: int, draws: int, seed: int) -> list[float]:
    """The K - 1 inner quantiles of the parameter counts (`count`: `Supernet.param_count`) of `draws` uniform draws."""
    rng = np.random.default_rng([seed, BAND_STREAM])
    counts = [count(space.sample_uniform(rng)) for _ in range(draws)]
    return [float(q) for q in np.quantile(counts, [k / parts for k in range(1, parts)])]


class Splitter:
    """arch -> the index of its part, for a manifest's split (the split's settings are in the manifest);
    `count`: the parent's `Supernet.param_count`, which a split by size puts cells in bands with."""

    def __init__(self, manifest: dict, count):
        self.split = manifest.get("split_by", "vertex1-op")  # manifests written before the size split
        if self.split == "params":
            self.edges = list(manifest["edges"])
            self.count = count
        else:
            self.position = int(manifest["position"])

    def __call__(self, arch) -> int:
        if self.split == "params":
            return int(np.searchsorted(self.edges, self.count(arch), side="right"))
        return int(arch[self.position])


class Part:
    """The cells `assign` puts in part `value`, in the shape a sampler's budget has (admits, draw)."""

    def __init__(self, assign, value: int, tries: int = 1000):
        self.assign, self.value, self.tries = assign, value, tries

    def __bool__(self) -> bool:
        return True

    def admits(self, arch) -> bool:
        return self.assign(arch) == self.value

    def draw(self, draw, source: str):
        for _ in range(self.tries):
            arch = draw()
            if self.admits(arch):
                return arch
        raise RuntimeError(f"{source}: no draw in part {self.value} after {self.tries} tries")


def make_manifest(parent, parent_run: Path, count, split: str, parts: int, band_draws: int, steps: int,
                  lr: float | None) -> dict:
    manifest = {"parent": str(parent_run.resolve()), "split_by": split, "split": SPLIT_NAMES[split],
                "steps": steps, "lr": lr}
    if split == "params":
        manifest.update(parts_count=parts, band_draws=band_draws,
                        edges=band_edges(count, parent.space, parts, band_draws, parent.config.seed))
    else:
        manifest["position"] = split_position(split)
        parts = parent.space.dims[manifest["position"]]
    if split in PART_NETWORK:
        manifest["network"] = PART_NETWORK[split]
    manifest["parts"] = {str(value): f"part{value}" for value in range(parts)}
    return manifest


def train_parts(parent_run: Path, out: Path, steps: int, lr: float | None, split: str = "vertex1-op",
                parts: int = DEFAULT_PARTS, band_draws: int = DEFAULT_BAND_DRAWS) -> dict:
    from samplenas.training.supernet_run import open_run
    from samplenas.training.supernet_train import SUMMARY, SupernetTrainer
    from samplenas.training.train_config import TrainConfig

    parent = open_run(parent_run)
    out.mkdir(parents=True, exist_ok=True)
    count = parent.supernet.param_count  # one cache for the bands' draws and every part's draws
    manifest = make_manifest(parent, parent_run, count, split, parts, band_draws, steps, lr)
    assign = Splitter(manifest, count)
    for value, name in manifest["parts"].items():
        folder = out / name
        if (folder / SUMMARY).exists():
            continue
        settings = {**parent.config.to_dict(), "steps": steps, "checkpoint_every": steps}
        settings["network"] = {**settings["network"], **manifest.get("network", {})}
        if lr is not None:
            settings["lr"] = lr
        trainer = SupernetTrainer(TrainConfig.from_dict(settings))
        trainer.supernet.load_state_dict(parent.supernet.state_dict())  # warm start from the one-shot weights
        trainer.sampler.constrain(Part(assign, int(value)))
        started = time.perf_counter()
        trainer.train(folder)
        print(f"part {value}: {steps} steps in {time.perf_counter() - started:.0f} s", flush=True)
    (out / FEW_SHOT_FILE).write_text(json.dumps(manifest, indent=1))
    return manifest


class FewShotScorer:
    """score(arch): the score of `arch` on the sub-supernet of its part (zero_cost_nb101 `--run NAME=OUT`)."""

    def __init__(self, out: Path, evaluation: dict):
        from samplenas.training.supernet_run import open_run

        manifest = json.loads((out / FEW_SHOT_FILE).read_text())
        self.parts = {int(value): open_run(out / folder, evaluation=evaluation)
                      for value, folder in manifest["parts"].items()}
        self.assign = Splitter(manifest, self.parts[0].supernet.param_count)

    def score(self, arch) -> dict:
        return self.parts[self.assign(arch)].score(arch)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parent", type=Path, required=True, help="the trained one-shot run to split")
    p.add_argument("--out", type=Path, required=True, help="folder of the sub-supernets (one run folder each)")
    p.add_argument("--steps", type=int, required=True, help="training steps of each sub-supernet")
    p.add_argument("--lr", type=float, help="initial learning rate of each sub-supernet (default: the parent's)")
    p.add_argument("--split", choices=SPLITS, default="vertex1-op",
                   help="the decision split on: vertex 1's op (3 parts), the input->output edge (2 parts) or the "
                        "parameter count (--parts bands)")
    p.add_argument("--parts", type=int, help=f"with --split params: the number of bands (default {DEFAULT_PARTS})")
    p.add_argument("--band-draws", type=int, help="with --split params: uniform draws whose quantiles cut the bands "
                                                  f"(default {DEFAULT_BAND_DRAWS})")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.split != "params" and (args.parts, args.band_draws) != (None, None):
        p.error("--parts and --band-draws cut the bands of --split params")
    args.parts = DEFAULT_PARTS if args.parts is None else args.parts
    args.band_draws = DEFAULT_BAND_DRAWS if args.band_draws is None else args.band_draws
    for flag, value in (("--steps", args.steps), ("--parts", args.parts), ("--band-draws", args.band_draws)):
        if value < 1:
            p.error(f"{flag} must be >= 1")
    import torch

    from samplenas.errors import UserError

    torch.set_num_threads(args.threads)
    try:
        manifest = train_parts(args.parent, args.out, args.steps, args.lr, args.split, args.parts, args.band_draws)
    except UserError as err:
        sys.exit(f"few_shot_nb101: {err}")
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
