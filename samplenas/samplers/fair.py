"""FairNAS strict fairness (Chu et al. 2019): every choice of every position is trained equally often.

A group holds m = max(dims) architectures. Column by column, position i gets each of its d_i
choices m // d_i times plus m % d_i distinct extra choices, shuffled, so within a group every
count is floor(m/d_i) or ceil(m/d_i) (exactly once each when d_i = m). Training accumulates the
gradients of the whole group before one optimiser step (`group_size`).

Constrained spaces. A row of a fair group can be invalid (NASNet: a node whose inputs are all
`none`; NB101: more than 9 edges or no input-output path; autoencoder: an empty layer before a
non-empty one). Repair happens in two stages:
1. swaps inside a column between two rows, kept when they do not add invalid rows; a swap keeps
   every column's counts, so fairness stays exact (this fixes NASNet's none-rule);
2. a row still invalid takes the valid single-position edit whose new choice is the rarest in its
   column of the group (the autoencoder's impossible empty first layer is fixed this way);
3. a row that no single edit fixes is decoded by the space's own structural rule when it has one
   (`sample_from_probs` overridden; NB101: A.5 keeps 9 of the row's edges and, almost always,
   its ops) from probabilities peaked on the row; otherwise it copies, in random order, the
   positions where the nearest valid row of the group differs until it is valid.
Stages 2 and 3 break exactness for those rows.

Under a budget, a row above it counts as invalid and goes through the same repair, so fairness
stays exact where swaps suffice; where they do not, the repaired rows lean towards the cheap choices,
and a choice that no architecture within the budget takes (e.g. the widest block under a tight
parameter limit) can never be fair. `deviation` and `repaired_rows` measure how much was lost.
`deviation(group)` measures how far a group is from exact fairness; `repaired_rows` counts the rows
that needed stages 2-3. Some choices can never be fair: the autoencoder's first layer is never empty, and NB101's
3-row groups hold ~10.5 edges per row where at most 9 are allowed.
"""

from __future__ import annotations

import numpy as np

from samplenas.errors import UserError
from samplenas.samplers.base import Sampler
from samplenas.spaces.base import Arch, InvalidArchitecture, SearchSpace


class FairSampler(Sampler):
    """Options: repair_swaps (stage-1 swap attempts without progress before giving up),
    repair_mix (weight of the uniform part of the peaked probabilities used in stage 3)."""

    name = "fair"

    def __init__(self, space: SearchSpace, seed: int = 0, repair_swaps: int = 200, repair_mix: float = 0.05):
        super().__init__(space, seed)
        if not 0.0 < repair_mix < 1.0:
            raise UserError(f"fair: repair_mix must be in (0, 1), got {repair_mix}")
        self.group_size = max(space.dims)
        self.repair_swaps = int(repair_swaps)
        self.repair_mix = float(repair_mix)
        self.groups = 0
        self.repaired_rows = 0

    def sample(self, n: int) -> list[Arch]:
        """ceil(n / group_size) whole groups, concatenated (so the result can be longer than n)."""
        groups = -(-self.check_count(n) // self.group_size)
        return [arch for _ in range(groups) for arch in self.sample_group()]

    def sample_group(self) -> list[Arch]:
        m = self.group_size
        columns = np.stack([self._fair_column(d) for d in self.space.dims], axis=1)  # [m, positions]
        valid = [self.admissible(row) for row in columns]
        self._swap_repair(columns, valid)
        for r in np.flatnonzero(~np.array(valid)):
            columns[r] = self._edit_or_redraw(columns, int(r))
        group = [tuple(int(c) for c in row) for row in columns]
        self.repaired_rows += m - sum(valid)
        self.groups += 1
        return group

    def _fair_column(self, d: int) -> np.ndarray:
        m = self.group_size
        extra = self.rng.choice(d, size=m % d, replace=False)
        return self.rng.permutation(np.concatenate([np.repeat(np.arange(d), m // d), extra]))

    def _swap_repair(self, columns: np.ndarray, valid: list[bool]) -> None:
        """Swap entries within a column between an invalid row and another row; keep non-worsening swaps."""
        m, positions = columns.shape
        stalled = 0
        while stalled < self.repair_swaps and m > 1:
            broken = [r for r, ok in enumerate(valid) if not ok]
            if not broken:
                return
            stalled += 1
            row = int(self.rng.choice(broken))
            other = int((row + self.rng.integers(1, m)) % m)
            position = int(self.rng.integers(positions))
            if columns[row, position] == columns[other, position]:
                continue
            columns[[row, other], position] = columns[[other, row], position]
            now_row, now_other = self.admissible(columns[row]), self.admissible(columns[other])
            if now_row + now_other >= valid[row] + valid[other]:
                stalled = 0 if now_row + now_other > valid[row] + valid[other] else stalled
                valid[row], valid[other] = now_row, now_other
            else:
                columns[[row, other], position] = columns[[other, row], position]

    def _edit_or_redraw(self, columns: np.ndarray, r: int) -> Arch:
        """The valid single edit of row r using the rarest choice of its column, else a near redraw."""
        row = columns[r]
        edits = []
        for position, d in enumerate(self.space.dims):
            counts = np.bincount(columns[:, position], minlength=d)
            for choice in range(d):
                if choice != row[position]:
                    edits.append((counts[choice], self.rng.random(), position, choice))
        for *_, position, choice in sorted(edits):
            trial = row.copy()
            trial[position] = choice
            if self.admissible(trial):
                return tuple(int(c) for c in trial)
        return self._walk_to_valid(columns, r)

    def _walk_to_valid(self, columns: np.ndarray, r: int) -> Arch:
        row = columns[r].copy()
        valid_rows = [v for v in columns if self.admissible(v)]
        if not valid_rows or type(self.space).sample_from_probs is not SearchSpace.sample_from_probs:
            return self._redraw_near(row)
        nearest = min(valid_rows, key=lambda v: int(np.sum(v != row)))
        for position in self.rng.permutation(np.flatnonzero(nearest != row)):
            row[position] = nearest[position]
            if self.admissible(row):
                break
        return tuple(int(c) for c in row)

    def _redraw_near(self, row: np.ndarray) -> Arch:
        """A draw near `row`; under a budget, near and uniform draws alternate until one is admitted
        (a row far above the budget has no admitted architecture near it)."""
        tries = iter(range(1 << 62))
        return self.draw_admitted(
            lambda: self._draw_near(row) if next(tries) % 2 == 0 else self.space.sample_uniform(self.rng),
            "repair draws")

    def _draw_near(self, row: np.ndarray) -> Arch:
        probs = []
        for choice, d in zip(row, self.space.dims):
            p = np.full(d, self.repair_mix / d)
            p[choice] += 1.0 - self.repair_mix
            probs.append(p)
        try:
            return self.space.sample_from_probs(probs, self.rng)
        except InvalidArchitecture:
            return self.space.sample_uniform(self.rng)

    def deviation(self, group: list[Arch], positions: range | None = None) -> int:
        """Largest distance of any (position, choice) count from [floor(m/d), ceil(m/d)]; 0 = exactly fair.

        `positions` restricts the check (e.g. NB101's op positions)."""
        counts = np.zeros((len(self.space.dims), max(self.space.dims)), dtype=np.int64)
        for arch in group:
            counts[np.arange(len(arch)), arch] += 1
        worst = 0
        for position in positions or range(len(self.space.dims)):
            d = self.space.dims[position]
            low, high = len(group) // d, -(-len(group) // d)
            over = np.maximum(counts[position, :d] - high, 0)
            under = np.maximum(low - counts[position, :d], 0)
            worst = max(worst, int(over.max()), int(under.max()))
        return worst

    def state_dict(self) -> dict:
        return {**super().state_dict(), "groups": self.groups, "repaired_rows": self.repaired_rows}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.groups, self.repaired_rows = int(state["groups"]), int(state["repaired_rows"])
