"""Landmark regularisation of an NB101 supernet (Yu et al., "Landmark Regularization: Ranking Guided
Super-Net Training", CVPR 2021): a few cells whose standalone accuracy is known (the landmarks) steer the
shared weights so that the supernet orders them as their standalone training does.

Every `--every` steps a random pair of landmarks runs on the step's batch, and the hinge
relu(loss_better - loss_worse) (the cross-entropy of the cell with the higher standalone accuracy should
be the lower one) is added to the step's loss with weight `--weight`. The landmarks are the cells
`tools/ceiling_nb101.py` trained standalone (docs/data/nb101_ceiling_cells.jsonl, their validation
accuracy at the proxy size): a cheap signal the supernet learns from, not the table. Judge the result on
cells that are not landmarks:

    python tools/landmarks_nb101.py --out runs/landmarks --steps 1757 --lr 0.1
    python tools/zero_cost_nb101.py --out runs/zc-landmarks --proxies --top-sample 0 \\
        --run landmarks=runs/landmarks --exclude-cells docs/data/nb101_ceiling_cells.jsonl

With `--like RUN` the supernet trains exactly as RUN did (its config.json: sampler, network, seed, steps,
learning rate, evaluation settings), the landmark hinge the only difference, so the two can be judged as a
pair on the same cells:

    python tools/landmarks_nb101.py --like runs/e2e-s161/uniform-seed161 --out runs/landmarks-161 \
        --landmarks runs/ceiling16-table/cells.jsonl

With `--teacher PROXY` the ranking is distilled from a zero-cost proxy instead (parameters, synflow, ...:
no training at all): `--teacher-cells` random cells are scored by the proxy at initialisation and serve
as the landmarks, written to OUT/landmarks.jsonl so that the judging can exclude them:

    python tools/landmarks_nb101.py --out runs/distil-params --teacher params --sampler fair --lr 0.025
    python tools/zero_cost_nb101.py --out runs/zc-distil --proxies --top-sample 0 \\
        --run distil=runs/distil-params --exclude-cells runs/distil-params/landmarks.jsonl
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
# what --like RUN takes from the run, and the defaults without it (--lr: train's for the space)
RUN_SETTINGS = {"steps": 1757, "sampler": "uniform", "lr": None, "data": "cifar10-jpeg", "seed": 0}


def read_landmarks(path: Path) -> list[tuple[tuple[int, ...], float]]:
    """(cell, how good) per line: a standalone-trained cell's "val_accuracy" or a teacher's "score"."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    try:
        return [(tuple(int(c) for c in row["arch"]), float(row["val_accuracy"] if "val_accuracy" in row
                                                             else row["score"])) for row in rows]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: each line needs an integer list 'arch' and a number 'val_accuracy' or "
                         f"'score' ({err!r})") from None


def teacher_landmarks(trainer, proxy: str, cells: int, seed: int) -> list[tuple[tuple[int, ...], float]]:
    """`cells` distinct random cells scored by the zero-cost `proxy` at initialisation, on one fixed
    minibatch of the run's training data (the scorer leaves the run's random streams alone); cells the
    proxy cannot score (a singular NASWOT kernel) are left out."""
    from samplenas.training.rank import distinct_uniform
    from samplenas.training.zero_cost import ZeroCostScorer, proxy_batch

    archs = distinct_uniform(trainer.space, cells, np.random.default_rng([seed, 47]))
    scorer = ZeroCostScorer(proxy, trainer.supernet, trainer.task, proxy_batch(trainer.data.train, 64, seed), seed)
    scored = [(tuple(int(c) for c in arch), scorer.score(arch)["score"]) for arch in archs]
    return [(arch, score) for arch, score in scored if np.isfinite(score)]  # a failed score teaches nothing


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


def training_config(args):
    """The supernet's TrainConfig: RUN's own with --like RUN (data folder overridable), else the proxy's."""
    from samplenas.training.supernet_run import run_config
    from samplenas.training.train_config import TrainConfig

    if args.like is not None:
        return run_config(args.like, data_dir=args.data_dir)
    return TrainConfig(space="nb101", sampler=args.sampler, data=args.data, data_dir=args.data_dir,
                       network=PROXY_NETWORK, steps=args.steps, eval_every=1000, checkpoint_every=args.steps,
                       seed=args.seed, lr=args.lr)


def main(argv=None) -> int:
    from samplenas.training.choices import ZERO_COST_PROXIES
    from samplenas.training.train_config import SPACE_LR

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="the run folder")
    p.add_argument("--like", type=Path, metavar="RUN",
                   help="train as this supernet run was trained (its config.json), the landmark hinge the only "
                        "difference; --steps, --sampler, --lr, --data, --seed then come from RUN")
    p.add_argument("--steps", type=int)
    p.add_argument("--weight", type=float, default=1.0, help="weight of the landmark hinge (default 1)")
    p.add_argument("--every", type=int, default=2, help="a landmark pair every N steps (default 2)")
    p.add_argument("--landmarks", type=Path, default=LANDMARKS,
                   help="standalone-trained landmarks (JSONL of arch and val_accuracy; default: the ceiling's cells)")
    p.add_argument("--teacher", choices=ZERO_COST_PROXIES,
                   help="distil from this zero-cost proxy instead: random cells it scores are the landmarks")
    p.add_argument("--teacher-cells", type=int, default=1000, help="cells the teacher scores (default 1000)")
    p.add_argument("--sampler", help="the supernet's training sampler (default uniform)")
    p.add_argument("--lr", type=float, help=f"learning rate (default: train's, {SPACE_LR['nb101']:g} for nb101)")
    p.add_argument("--data", help="the data set (default cifar10-jpeg)")
    p.add_argument("--data-dir", help="where the data set is (default with --like: RUN's)")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.like is not None:
        taken = [f"--{name.replace('_', '-')}" for name in RUN_SETTINGS if getattr(args, name) is not None]
        if taken:
            p.error(f"--like takes {', '.join(taken)} from the run; drop {'it' if len(taken) == 1 else 'them'}")
    else:
        if args.data_dir is None:
            p.error("--data-dir is required (or --like RUN, to train as RUN was trained)")
        for name, value in RUN_SETTINGS.items():
            setattr(args, name, value if getattr(args, name) is None else getattr(args, name))
    bad_lr = args.lr is not None and not 0 < args.lr < float("inf")
    bad_steps = args.steps is not None and args.steps < 1
    if bad_steps or args.every < 1 or args.weight < 0 or args.teacher_cells < 2 or bad_lr:
        p.error("--steps and --every must be >= 1, --weight >= 0, --teacher-cells >= 2, --lr > 0")
    import torch

    from samplenas.errors import UserError
    from samplenas.training.supernet_train import SupernetTrainer

    torch.set_num_threads(args.threads)
    try:
        config = training_config(args)
        if config.space != "nb101":
            raise UserError(f"{args.like} trained a {config.space} supernet; landmarks are NB101 cells")
        landmarks = None if args.teacher else read_landmarks(args.landmarks)
        trainer = SupernetTrainer(config)
        if args.teacher:
            landmarks = teacher_landmarks(trainer, args.teacher, args.teacher_cells, config.seed)
        trainer.regularizers.append(LandmarkHinge(landmarks, trainer.task, args.weight, args.every, config.seed))
        summary = trainer.train(args.out)
    except (UserError, OSError, ValueError) as err:
        sys.exit(f"landmarks_nb101: {err}")
    if args.teacher:
        (args.out / "landmarks.jsonl").write_text("".join(
            json.dumps({"arch": list(arch), "score": score, "teacher": args.teacher}) + "\n"
            for arch, score in landmarks))
    (args.out / "landmarks.json").write_text(json.dumps({**vars(args), "out": str(args.out),
                                                         "landmarks": str(args.landmarks),
                                                         "like": None if args.like is None else str(args.like),
                                                         "data_dir": config.data_dir}, indent=1))
    print(json.dumps({"steps": summary["steps"], "seconds": summary["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
