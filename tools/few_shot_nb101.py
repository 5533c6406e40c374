"""Few-shot supernets on NAS-Bench-101 (Zhao et al., ICML 2021): split a trained one-shot supernet on one
decision into K sub-supernets, each warm-started from the one-shot weights and trained further only on the
cells of its part; a cell is then scored by the sub-supernet of its part.

The split is the op of encoded vertex 1 (conv3x3 / conv1x1 / maxpool3x3, K = 3): the first decision of
the encoding, and the one the few-shot paper splits on (the first edge's op). Each part trains
`--steps` steps with the parent's recipe (a fresh schedule from `--lr`), uniform over its own cells.

    python tools/few_shot_nb101.py --parent RUN --steps 600 --out runs/few-shot
    python tools/zero_cost_nb101.py --out runs/zc --proxies --run few=runs/few-shot   # ranks it

OUT/few_shot.json names the parts; `zero_cost_nb101.py --run NAME=OUT` recognises it. Resumable: a part
whose summary.json exists is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SPLIT_POSITION_NAME = "op of encoded vertex 1"
FEW_SHOT_FILE = "few_shot.json"


def split_position() -> int:
    from samplenas.spaces.nasbench101 import NUM_EDGE_BITS

    return NUM_EDGE_BITS  # the first op position of the flat encoding


class Part:
    """The cells whose split decision is `value`, in the shape a sampler's budget has (admits, draw)."""

    def __init__(self, position: int, value: int, tries: int = 1000):
        self.position, self.value, self.tries = position, value, tries

    def __bool__(self) -> bool:
        return True

    def admits(self, arch) -> bool:
        return int(arch[self.position]) == self.value

    def draw(self, draw, source: str):
        for _ in range(self.tries):
            arch = draw()
            if self.admits(arch):
                return arch
        raise RuntimeError(f"{source}: no draw in part {self.value} after {self.tries} tries")


def train_parts(parent_run: Path, out: Path, steps: int, lr: float | None) -> dict:
    from samplenas.training.supernet_run import open_run
    from samplenas.training.supernet_train import SUMMARY, SupernetTrainer
    from samplenas.training.train_config import TrainConfig

    parent = open_run(parent_run)
    position = split_position()
    values = range(parent.space.dims[position])
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"parent": str(parent_run.resolve()), "position": position, "split": SPLIT_POSITION_NAME,
                "steps": steps, "lr": lr, "parts": {}}
    for value in values:
        folder = out / f"part{value}"
        manifest["parts"][str(value)] = folder.name
        if (folder / SUMMARY).exists():
            continue
        settings = {**parent.config.to_dict(), "steps": steps, "checkpoint_every": steps}
        if lr is not None:
            settings["lr"] = lr
        trainer = SupernetTrainer(TrainConfig.from_dict(settings))
        trainer.supernet.load_state_dict(parent.supernet.state_dict())  # warm start from the one-shot weights
        trainer.sampler.constrain(Part(position, value))
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
        self.position = int(manifest["position"])
        self.parts = {int(value): open_run(out / folder, evaluation=evaluation)
                      for value, folder in manifest["parts"].items()}

    def score(self, arch) -> dict:
        return self.parts[int(arch[self.position])].score(arch)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parent", type=Path, required=True, help="the trained one-shot run to split")
    p.add_argument("--out", type=Path, required=True, help="folder of the sub-supernets (one run folder each)")
    p.add_argument("--steps", type=int, required=True, help="training steps of each sub-supernet")
    p.add_argument("--lr", type=float, help="initial learning rate of each sub-supernet (default: the parent's)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be >= 1")
    import torch

    from samplenas.errors import UserError

    torch.set_num_threads(args.threads)
    try:
        manifest = train_parts(args.parent, args.out, args.steps, args.lr)
    except UserError as err:
        sys.exit(f"few_shot_nb101: {err}")
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
