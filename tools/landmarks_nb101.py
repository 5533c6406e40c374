"""Landmark regularisation of an NB101 supernet (Yu et al., "Landmark Regularization: Ranking Guided
Super-Net Training", CVPR 2021): a few cells whose standalone accuracy is known (the landmarks) steer the
shared weights so that the supernet orders them as their standalone training does.

Every `--every` steps a random pair of landmarks runs on the step's batch, and the hinge
relu(loss_better - loss_worse) (the cross-entropy of the cell with the higher standalone accuracy should
be the lower one) is added to the step's loss with weight `--weight`. The landmarks are the cells
`tools/ceiling_nb101.py` trained standalone (docs/data/nb101_ceiling_cells.jsonl, their validation
accuracy at the proxy size): a cheap signal the supernet learns from, not the table. Judge the result on
cells that are not landmarks:

    python tools/landmarks_nb101.py --out runs/landmarks --steps 1757
    python tools/zero_cost_nb101.py --out runs/zc-landmarks --proxies --top-sample 0 \\
        --run landmarks=runs/landmarks --exclude-cells docs/data/nb101_ceiling_cells.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LANDMARKS = ROOT / "docs" / "data" / "nb101_ceiling_cells.jsonl"
PROXY_NETWORK = {"stem_channels": 16, "num_stacks": 3, "cells_per_stack": 1}


def read_landmarks(path: Path) -> list[tuple[tuple[int, ...], float]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(tuple(int(c) for c in row["arch"]), float(row["val_accuracy"])) for row in rows]


class LandmarkHinge:
    """(supernet, inputs, target) -> weight * relu(loss of the better landmark - loss of the worse), every
    `every` calls (zero otherwise), the pair drawn from a seeded stream."""

    def __init__(self, landmarks, task, weight: float, every: int, seed: int):
        self.landmarks, self.task, self.weight, self.every = landmarks, task, weight, every
        self.rng = np.random.default_rng([seed, 31])
        self.calls = 0

    def __call__(self, supernet, inputs, target):
        import torch

        self.calls += 1
        if self.calls % self.every:
            return torch.zeros((), device=inputs.device)
        i, j = self.rng.choice(len(self.landmarks), 2, replace=False)
        (better, a_better), (worse, a_worse) = sorted((self.landmarks[i], self.landmarks[j]), key=lambda x: -x[1])
        if a_better == a_worse:
            return torch.zeros((), device=inputs.device)
        gap = self.task.loss(supernet(inputs, better), target) - self.task.loss(supernet(inputs, worse), target)
        return self.weight * torch.relu(gap)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="the run folder")
    p.add_argument("--steps", type=int, default=1757)
    p.add_argument("--weight", type=float, default=1.0, help="weight of the landmark hinge (default 1)")
    p.add_argument("--every", type=int, default=2, help="a landmark pair every N steps (default 2)")
    p.add_argument("--landmarks", type=Path, default=LANDMARKS)
    p.add_argument("--data", default="cifar10-jpeg")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.steps < 1 or args.every < 1 or args.weight < 0:
        p.error("--steps and --every must be >= 1, --weight >= 0")
    import torch

    from samplenas.training.supernet_train import SupernetTrainer
    from samplenas.training.train_config import TrainConfig

    torch.set_num_threads(args.threads)
    config = TrainConfig(space="nb101", sampler="uniform", data=args.data, data_dir=args.data_dir,
                         network=PROXY_NETWORK, steps=args.steps, eval_every=1000, checkpoint_every=args.steps,
                         seed=args.seed)
    from samplenas.errors import UserError

    try:
        trainer = SupernetTrainer(config)
        trainer.regularizers.append(LandmarkHinge(read_landmarks(args.landmarks), trainer.task, args.weight,
                                                  args.every, args.seed))
        summary = trainer.train(args.out)
    except (UserError, OSError) as err:
        sys.exit(f"landmarks_nb101: {err}")
    (args.out / "landmarks.json").write_text(json.dumps({**vars(args), "out": str(args.out),
                                                         "landmarks": str(args.landmarks),
                                                         "data_dir": str(args.data_dir)}, indent=1))
    print(json.dumps({"steps": summary["steps"], "seconds": summary["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
