"""What a running population search shows: one progress bar and one TensorBoard writer.

`evolve`, `pbt` and `dnc` all report through a `SearchMonitor`. The bar (on stderr, so a search's
JSON on stdout stays clean) counts the evaluations submitted and finished over the whole run; a
generation, round or stage only changes its label. TensorBoard opens the one way every trainer
opens it (`training.tensorboard.open_writer`), so a resumed search drops the points its interrupted
run logged past the step it continues from.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path

from samplenas.training.tensorboard import open_writer


class SearchMonitor:
    """The bar and the writer of one search run; `resume_step`: the step a resumed run continues from."""

    def __init__(self, folder: str | Path, enabled: bool, resume_step: int | None = None):
        from tqdm import tqdm

        self.bar = tqdm(total=0, disable=not enabled, dynamic_ncols=True, unit="eval", file=sys.stderr)
        self.writer = open_writer(folder, resume_step)

    def label(self, text: str) -> None:
        """What the search is doing now (a generation, a round, a stage)."""
        self.bar.set_description_str(text, refresh=True)

    def expect(self, count: int) -> None:
        """`count` more evaluations were submitted."""
        self.bar.total = (self.bar.total or 0) + int(count)
        self.bar.refresh()

    def finished(self) -> None:
        """One evaluation came back."""
        self.bar.update(1)

    def status(self, text: str) -> None:
        """The bar's right-hand summary (best fitness, cache hits, workers alive)."""
        self.bar.set_postfix_str(text, refresh=True)

    def scalars(self, step: int, values: Mapping[str, float | None]) -> None:
        """Log each finite value under its tag at `step` (a diverged evaluation's null is left out)."""
        for tag, value in values.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def text(self, tag: str, text: str, step: int) -> None:
        self.writer.add_text(tag, text, step)

    def close(self) -> None:
        self.bar.close()
        self.writer.close()

    def __enter__(self) -> SearchMonitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
